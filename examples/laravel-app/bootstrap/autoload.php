<?php

/*
 * Class loading without Composer's vendor/ directory.
 *
 * The framework comes from Debian's php-laravel-framework package, which
 * installs Laravel 8.83 and its dependencies under /usr/share/php together
 * with their own autoloaders. The application's namespaces are mapped here
 * with a small PSR-4 loader, so the app runs from a checkout or from the
 * installed .deb with nothing fetched from packagist.
 *
 * LARAVEL_FRAMEWORK_AUTOLOAD points at another framework autoloader when the
 * framework lives somewhere else (for example a Composer-built vendor/autoload.php).
 */

$frameworkAutoload = getenv('LARAVEL_FRAMEWORK_AUTOLOAD') ?: 'Illuminate/autoload.php';

if (! (@include_once $frameworkAutoload)) {
    fwrite(STDERR, "Cannot load the Laravel framework from \"{$frameworkAutoload}\": install Debian's php-laravel-framework package (apt-get install php-laravel-framework) or set LARAVEL_FRAMEWORK_AUTOLOAD\n");
    exit(1);
}

spl_autoload_register(static function (string $class): void {
    static $prefixes = [
        'App\\' => __DIR__.'/../app/',
        'Database\\Seeders\\' => __DIR__.'/../database/seeders/',
        'Tests\\' => __DIR__.'/../tests/',
    ];

    foreach ($prefixes as $prefix => $directory) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $directory.str_replace('\\', '/', substr($class, strlen($prefix))).'.php';
            if (is_file($file)) {
                require $file;
            }

            return;
        }
    }
});
