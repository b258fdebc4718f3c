<?php

namespace App\Runtime;

use App\Exceptions\InvalidInput;
use App\Support\Version;

/**
 * Settings of the `web` process (php-fpm behind HAProxy), read from the
 * environment, and the configuration files rendered from them.
 *
 * Everything an instance writes (pool and HAProxy configuration, sockets, pid
 * files) goes under its run directory, so several instances of the app run side
 * by side on one host without clashing.
 */
final class WebConfig
{
    /**
     * @param  array<string, string>  $phpSettings  php.ini settings forced on the workers
     */
    public function __construct(
        public readonly string $basePath,
        public readonly string $host,
        public readonly int $port,
        public readonly string $runDirectory,
        public readonly int $concurrency,
        public readonly int $stopTimeout,
        public readonly int $requestTimeout,
        public readonly bool $accessLog,
        public readonly ?string $workerUser,
        public readonly ?string $workerGroup,
        public readonly string $fpmBinary,
        public readonly string $haproxyBinary,
        public readonly string $version,
        public readonly ?string $instance,
        public readonly array $phpSettings,
    ) {
    }

    /**
     * Reads PORT (required), HOST, RUN_DIR, WEB_CONCURRENCY, WEB_STOP_TIMEOUT,
     * WEB_REQUEST_TIMEOUT, WEB_ACCESS_LOG, WEB_USER, WEB_PHP_INI, PHP_FPM_BIN,
     * HAPROXY_BIN, APP_VERSION, APP_INSTANCE and LARAVEL_STORAGE_PATH.
     *
     * @param  array<string, string>  $environment
     *
     * @throws InvalidInput listing every wrong value at once
     */
    public static function fromEnvironment(array $environment, string $basePath, ?Host $host = null): self
    {
        $host ??= new Host();
        $problems = [];
        $get = fn (string $name): ?string => isset($environment[$name]) && trim($environment[$name]) !== '' ? trim($environment[$name]) : null;

        $port = self::integer($get('PORT'), 'PORT', null, 1, 65535, $problems);
        $bindHost = $get('HOST') ?? '0.0.0.0';
        if (filter_var($bindHost, FILTER_VALIDATE_IP) === false) {
            $problems[] = "HOST is \"{$bindHost}\" but must be an IP address to listen on, like 0.0.0.0 or 127.0.0.1";
        }
        $concurrency = self::integer($get('WEB_CONCURRENCY'), 'WEB_CONCURRENCY', max(2, 2 * $host->cpuCount()), 1, 512, $problems);
        $stopTimeout = self::integer($get('WEB_STOP_TIMEOUT'), 'WEB_STOP_TIMEOUT', 25, 1, 3600, $problems);
        $requestTimeout = self::integer($get('WEB_REQUEST_TIMEOUT'), 'WEB_REQUEST_TIMEOUT', 60, 1, 3600, $problems);
        $accessLog = self::boolean($get('WEB_ACCESS_LOG'), 'WEB_ACCESS_LOG', true, $problems);

        $storage = $get('LARAVEL_STORAGE_PATH') ?? $basePath.'/storage';
        $runDirectory = $get('RUN_DIR') ?? $storage.'/run/web-'.($port ?? 'unknown');
        if (! str_starts_with($runDirectory, '/')) {
            $problems[] = "RUN_DIR is \"{$runDirectory}\" but must be an absolute path";
        } elseif (strlen($runDirectory.'/php-fpm.sock') > 100) {
            // sockaddr_un holds 108 bytes; leave room for the terminator and HAProxy's suffixes.
            $problems[] = "RUN_DIR is \"{$runDirectory}\" but must be at most ".(100 - strlen('/php-fpm.sock')).' characters long (the php-fpm socket path must fit a Unix socket address)';
        }

        [$workerUser, $workerGroup] = self::workerIdentity($get('WEB_USER'), $storage, $host, $problems);

        $fpmBinary = $get('PHP_FPM_BIN') ?? $host->findExecutable(['php-fpm'.PHP_MAJOR_VERSION.'.'.PHP_MINOR_VERSION, 'php-fpm']);
        if ($fpmBinary === null || ! is_executable($fpmBinary)) {
            $problems[] = 'php-fpm is not installed ('.($fpmBinary ?? 'not on PATH or in /usr/sbin').'): install php-fpm or set PHP_FPM_BIN';
        }
        $haproxyBinary = $get('HAPROXY_BIN') ?? $host->findExecutable(['haproxy']);
        if ($haproxyBinary === null || ! is_executable($haproxyBinary)) {
            $problems[] = 'haproxy is not installed ('.($haproxyBinary ?? 'not on PATH or in /usr/sbin').'): install haproxy (2.2 or later) or set HAPROXY_BIN';
        }

        $phpIni = $get('WEB_PHP_INI') ?? (is_file('/etc/laravel-app/fpm.ini') ? '/etc/laravel-app/fpm.ini' : null);
        $phpSettings = $phpIni === null ? [] : self::phpSettings($phpIni, $problems);

        if ($problems !== []) {
            throw new InvalidInput("Cannot start the web process: the configuration is invalid:\n  - ".implode("\n  - ", $problems));
        }

        return new self(
            basePath: $basePath,
            host: $bindHost,
            port: (int) $port,
            runDirectory: rtrim($runDirectory, '/'),
            concurrency: (int) $concurrency,
            stopTimeout: (int) $stopTimeout,
            requestTimeout: (int) $requestTimeout,
            accessLog: $accessLog,
            workerUser: $workerUser,
            workerGroup: $workerGroup,
            fpmBinary: (string) $fpmBinary,
            haproxyBinary: (string) $haproxyBinary,
            version: Version::resolve($get('APP_VERSION'), $basePath.'/VERSION'),
            instance: $get('APP_INSTANCE'),
            phpSettings: $phpSettings,
        );
    }

    public function fpmSocket(): string
    {
        return $this->runDirectory.'/php-fpm.sock';
    }

    public function fpmConfigFile(): string
    {
        return $this->runDirectory.'/php-fpm.conf';
    }

    public function haproxyConfigFile(): string
    {
        return $this->runDirectory.'/haproxy.cfg';
    }

    public function haproxyStatsSocket(): string
    {
        return $this->runDirectory.'/haproxy.sock';
    }

    public function pidFile(): string
    {
        return $this->runDirectory.'/web.pid';
    }

    /** The php-fpm configuration: a global section and one pool on a Unix socket. */
    public function renderFpmConfig(): string
    {
        $lines = [
            '; Generated by bin/web for one instance; edits are overwritten at the next start.',
            '[global]',
            'pid = '.$this->runDirectory.'/php-fpm.pid',
            // Unused: in the foreground with --force-stderr, php-fpm logs to its stderr as it is
            // (a pipe or a socket). The file must still open, and /proc/self/fd/2 cannot when
            // stderr is a socket, as with Node's child_process.
            'error_log = '.$this->runDirectory.'/php-fpm.log',
            'log_level = notice',
            'daemonize = no',
            'systemd_interval = 0',
            // On SIGQUIT, how long workers get to finish their request.
            'process_control_timeout = '.$this->stopTimeout.'s',
            '',
            '[app]',
            'listen = '.$this->fpmSocket(),
            'listen.backlog = 511',
            'listen.mode = 0600',
        ];
        if ($this->workerUser !== null) {
            $lines[] = 'user = '.$this->workerUser;
            $lines[] = 'group = '.$this->workerGroup;
        }
        array_push(
            $lines,
            'pm = static',
            'pm.max_children = '.$this->concurrency,
            'pm.max_requests = 2000',
            'request_terminate_timeout = '.($this->requestTimeout + 5).'s',
            // Workers see the process environment: configuration comes from it.
            'clear_env = no',
            'catch_workers_output = yes',
            'decorate_workers_output = no',
            'security.limit_extensions = .php',
            'php_admin_flag[log_errors] = on',
            'php_admin_flag[display_errors] = off',
            'php_admin_flag[expose_php] = off',
        );
        foreach ($this->phpSettings as $name => $value) {
            $lines[] = "php_admin_value[{$name}] = {$value}";
        }

        return implode("\n", $lines)."\n";
    }

    /** HAProxy in front of php-fpm, speaking FastCGI to it. */
    public function renderHaproxyConfig(): string
    {
        $public = $this->basePath.'/public';
        $bind = str_contains($this->host, ':') ? "[{$this->host}]:{$this->port}" : "{$this->host}:{$this->port}";
        $server = 'server fpm unix@'.$this->fpmSocket().' proto fcgi maxconn '.$this->concurrency;
        $version = self::quote($this->version);

        $lines = [
            '# Generated by bin/web for one instance; edits are overwritten at the next start.',
            'global',
            '    stats socket '.$this->haproxyStatsSocket().' mode 600 level admin',
            '    hard-stop-after '.$this->stopTimeout.'s',
            '    maxconn 4096',
        ];
        if ($this->accessLog) {
            $lines[] = '    log stdout format raw local0 info';
        }
        array_push(
            $lines,
            '',
            'defaults',
            '    mode http',
            '    log global',
            '    option httplog',
            '    option dontlognull',
            '    timeout connect 5s',
            '    timeout client 60s',
            '    timeout http-request 10s',
            '    timeout http-keep-alive 10s',
            // Requests beyond the workers' capacity wait here, not in php-fpm's backlog.
            '    timeout queue 30s',
            '    timeout server '.$this->requestTimeout.'s',
            // Errors HAProxy answers itself (php-fpm down, overloaded or too slow) are JSON
            // and carry the version too, like the application's own.
            '    http-error status 502 content-type application/json hdr X-App-Version "'.$version.'" string \'{"message":"The application failed to answer"}\'',
            '    http-error status 503 content-type application/json hdr X-App-Version "'.$version.'" string \'{"message":"The application is unavailable: try again shortly"}\'',
            '    http-error status 504 content-type application/json hdr X-App-Version "'.$version.'" string \'{"message":"The application did not answer in time"}\'',
            '',
            '# Laravel: every request goes to public/index.php, the path stays in REQUEST_URI.',
            'fcgi-app laravel',
            '    docroot '.$public,
            '    index index.php',
            '    log-stderr global',
            // A php-fpm worker serves one connection at a time and stays tied to it while it
            // is open: kept-alive idle connections would hold workers hostage and stall new
            // requests in the socket backlog. Each request gets its own connection instead.
            '    no option keep-conn',
            '    set-param SCRIPT_FILENAME '.$public.'/index.php',
            '    set-param SCRIPT_NAME /index.php',
            '    pass-header Authorization',
            '',
            '# The built admin UI under /build/, served by a small script and cached here.',
            'fcgi-app assets',
            '    docroot '.$public,
            '    log-stderr global',
            '    no option keep-conn',
            '    set-param SCRIPT_FILENAME '.$public.'/asset.php',
            '    set-param SCRIPT_NAME /asset.php',
            '',
            'cache assets',
            '    total-max-size 32',
            '    max-object-size 4194304',
            '    max-age 3600',
            '',
            'frontend web',
            '    bind '.$bind,
            '    unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid',
            '    http-request set-header X-Request-Id %[unique-id] unless { req.hdr(X-Request-Id) -m found }',
            '    http-request set-var(txn.request_id) req.hdr(X-Request-Id)',
            '    http-response set-header X-Request-Id %[var(txn.request_id)]',
            '    http-response set-header X-App-Version "'.$version.'" unless { res.hdr(X-App-Version) -m found }',
        );
        if ($this->instance !== null) {
            $lines[] = '    http-response set-header X-App-Instance "'.self::quote($this->instance).'" unless { res.hdr(X-App-Instance) -m found }';
        }
        array_push(
            $lines,
            '    use_backend assets if { path_beg /build/ }',
            '    default_backend app',
            '',
            'backend app',
            '    use-fcgi-app laravel',
            '    '.$server,
            '',
            'backend assets',
            '    use-fcgi-app assets',
            '    http-request cache-use assets',
            '    http-response cache-store assets',
            '    '.$server,
        );

        return implode("\n", $lines)."\n";
    }

    /**
     * @param  list<string>  $problems
     */
    private static function integer(?string $value, string $name, ?int $default, int $min, int $max, array &$problems): ?int
    {
        if ($value === null) {
            if ($default === null) {
                $problems[] = "{$name} is not set: give the port to listen on, from {$min} to {$max}";
            }

            return $default;
        }
        if (preg_match('/^\d+$/', $value) !== 1 || (int) $value < $min || (int) $value > $max) {
            $problems[] = "{$name} is \"{$value}\" but must be a whole number from {$min} to {$max}";

            return $default;
        }

        return (int) $value;
    }

    /**
     * @param  list<string>  $problems
     */
    private static function boolean(?string $value, string $name, bool $default, array &$problems): bool
    {
        if ($value === null) {
            return $default;
        }
        $parsed = filter_var($value, FILTER_VALIDATE_BOOLEAN, FILTER_NULL_ON_FAILURE);
        if ($parsed === null) {
            $problems[] = "{$name} is \"{$value}\" but must be true or false (1/0, yes/no, on/off)";

            return $default;
        }

        return $parsed;
    }

    /**
     * php-fpm refuses to run workers as root. When started as root, the workers run
     * as WEB_USER, else as the owner of the storage directory (the app user the
     * package created), else as www-data. Otherwise they run as the current user.
     *
     * @param  list<string>  $problems
     * @return array{0: ?string, 1: ?string}
     */
    private static function workerIdentity(?string $requested, string $storage, Host $host, array &$problems): array
    {
        if (! $host->isRoot()) {
            return [null, null];
        }
        $user = $requested;
        if ($user === null) {
            $owner = $host->ownerOf($storage);
            $user = $owner !== null && $owner !== 'root' ? $owner : 'www-data';
        }
        $group = $host->primaryGroupOf($user);
        if ($group === null) {
            $problems[] = "WEB_USER is \"{$user}\" but no such user exists: create it or name another one";

            return [null, null];
        }
        if ($user === 'root') {
            $problems[] = 'WEB_USER is "root" but php-fpm workers must not run as root: name an unprivileged user';
        }

        return [$user, $group];
    }

    /**
     * @param  list<string>  $problems
     * @return array<string, string>
     */
    private static function phpSettings(string $file, array &$problems): array
    {
        if (! is_file($file) || ! is_readable($file)) {
            $problems[] = "WEB_PHP_INI is \"{$file}\" but that file cannot be read";

            return [];
        }
        $parsed = parse_ini_file($file, false, INI_SCANNER_RAW);
        if ($parsed === false) {
            $problems[] = "WEB_PHP_INI file \"{$file}\" is not valid ini syntax";

            return [];
        }
        $settings = [];
        foreach ($parsed as $name => $value) {
            if (! is_string($value) || preg_match('/^[a-z_][a-z0-9_.]*$/i', (string) $name) !== 1 || preg_match('/[\r\n]/', $value) === 1) {
                $problems[] = "WEB_PHP_INI file \"{$file}\" has an unusable setting \"{$name}\": use plain name = value lines";

                continue;
            }
            $settings[(string) $name] = $value;
        }

        return $settings;
    }

    private static function quote(string $value): string
    {
        return addcslashes($value, '"\\');
    }
}
