<?php

/*
 * Create the application container.
 *
 * Paths that differ per host or per instance come from the environment:
 * - LARAVEL_STORAGE_PATH: a storage/ directory outside the code (default: ./storage);
 * - APP_ENV_DIR: the directory holding the rendered .env file (default: the app root);
 * - APP_CONFIG_CACHE, APP_ROUTES_CACHE, APP_SERVICES_CACHE, APP_PACKAGES_CACHE,
 *   APP_EVENTS_CACHE: Laravel's own overrides for bootstrap/cache files.
 */

// Stack traces in logs never show function arguments: the PDO constructor's
// include the database password. (Debian's php.ini sets it too; hosts vary.)
ini_set('zend.exception_ignore_args', '1');

$app = new Illuminate\Foundation\Application(
    dirname(__DIR__)
);

if (($storage = getenv('LARAVEL_STORAGE_PATH')) !== false && $storage !== '') {
    $app->useStoragePath($storage);
}

if (($environmentDirectory = getenv('APP_ENV_DIR')) !== false && $environmentDirectory !== '') {
    $app->useEnvironmentPath($environmentDirectory);
}

// libpq reads these when pdo_pgsql connects: a bounded connect time, so that /up
// answers 503 quickly when the database is unreachable, and a name in pg_stat_activity.
if (getenv('PGCONNECT_TIMEOUT') === false) {
    putenv('PGCONNECT_TIMEOUT='.(getenv('DB_CONNECT_TIMEOUT') ?: '5'));
}
if (getenv('PGAPPNAME') === false) {
    putenv('PGAPPNAME=laravel-app-'.(PHP_SAPI === 'cli' ? 'cli' : 'web'));
}

$app->singleton(
    Illuminate\Contracts\Http\Kernel::class,
    App\Http\Kernel::class
);

$app->singleton(
    Illuminate\Contracts\Console\Kernel::class,
    App\Console\Kernel::class
);

$app->singleton(
    Illuminate\Contracts\Debug\ExceptionHandler::class,
    App\Exceptions\Handler::class
);

return $app;
