<?php

namespace Tests\Unit;

use App\Exceptions\InvalidInput;
use App\Runtime\Host;
use App\Runtime\WebConfig;
use PHPUnit\Framework\TestCase;

final class WebConfigTest extends TestCase
{
    private string $directory;

    protected function setUp(): void
    {
        $this->directory = sys_get_temp_dir().'/webconfig-'.bin2hex(random_bytes(4));
        mkdir($this->directory.'/storage', 0755, true);
        mkdir($this->directory.'/public', 0755, true);
    }

    protected function tearDown(): void
    {
        exec('rm -rf '.escapeshellarg($this->directory));
    }

    public function testReadsTheEnvironmentWithDefaults(): void
    {
        $config = WebConfig::fromEnvironment($this->environment(['PORT' => '8080']), $this->directory, $this->host());

        $this->assertSame('0.0.0.0', $config->host);
        $this->assertSame(8080, $config->port);
        $this->assertSame(8, $config->concurrency, 'two workers per CPU');
        $this->assertSame($this->directory.'/storage/run/web-8080', $config->runDirectory);
        $this->assertSame(25, $config->stopTimeout);
        $this->assertTrue($config->accessLog);
        $this->assertNull($config->workerUser, 'not root: workers run as the current user');
    }

    public function testListsEveryInvalidValueAtOnce(): void
    {
        try {
            WebConfig::fromEnvironment($this->environment([
                'PORT' => '70000', 'HOST' => 'localhost', 'WEB_CONCURRENCY' => '0', 'WEB_ACCESS_LOG' => 'maybe', 'RUN_DIR' => 'relative/run',
            ]), $this->directory, $this->host());
            $this->fail('An invalid configuration was accepted');
        } catch (InvalidInput $e) {
            $this->assertStringStartsWith('Cannot start the web process: the configuration is invalid:', $e->getMessage());
            $this->assertStringContainsString('PORT is "70000" but must be a whole number from 1 to 65535', $e->getMessage());
            $this->assertStringContainsString('HOST is "localhost" but must be an IP address', $e->getMessage());
            $this->assertStringContainsString('WEB_CONCURRENCY is "0" but must be a whole number from 1 to 512', $e->getMessage());
            $this->assertStringContainsString('WEB_ACCESS_LOG is "maybe" but must be true or false', $e->getMessage());
            $this->assertStringContainsString('RUN_DIR is "relative/run" but must be an absolute path', $e->getMessage());
        }
    }

    public function testRequiresThePort(): void
    {
        $this->expectException(InvalidInput::class);
        $this->expectExceptionMessage('PORT is not set');

        WebConfig::fromEnvironment($this->environment([]), $this->directory, $this->host());
    }

    public function testRejectsARunDirectoryTooLongForAUnixSocket(): void
    {
        $this->expectExceptionMessage('the php-fpm socket path must fit a Unix socket address');

        WebConfig::fromEnvironment($this->environment(['PORT' => '8080', 'RUN_DIR' => '/'.str_repeat('r', 120)]), $this->directory, $this->host());
    }

    public function testAsRootRunsWorkersAsTheOwnerOfStorage(): void
    {
        $config = WebConfig::fromEnvironment($this->environment(['PORT' => '8080']), $this->directory, $this->host(root: true, storageOwner: 'laravel-app'));

        $this->assertSame('laravel-app', $config->workerUser);
        $this->assertStringContainsString("user = laravel-app\ngroup = laravel-app\n", $config->renderFpmConfig());
    }

    public function testAsRootFallsBackToWwwDataAndNeverRunsWorkersAsRoot(): void
    {
        $config = WebConfig::fromEnvironment($this->environment(['PORT' => '8080']), $this->directory, $this->host(root: true, storageOwner: 'root'));
        $this->assertSame('www-data', $config->workerUser);

        $this->expectExceptionMessage('WEB_USER is "root" but php-fpm workers must not run as root');
        WebConfig::fromEnvironment($this->environment(['PORT' => '8080', 'WEB_USER' => 'root']), $this->directory, $this->host(root: true));
    }

    public function testRendersAnFpmPoolOnASocketInTheRunDirectory(): void
    {
        $config = WebConfig::fromEnvironment($this->environment(['PORT' => '9000', 'RUN_DIR' => $this->directory.'/run', 'WEB_CONCURRENCY' => '3']), $this->directory, $this->host());
        $fpm = $config->renderFpmConfig();

        $this->assertStringContainsString('listen = '.$this->directory.'/run/php-fpm.sock', $fpm);
        $this->assertStringContainsString('pm.max_children = 3', $fpm);
        $this->assertStringContainsString('clear_env = no', $fpm);
        $this->assertStringContainsString('pid = '.$this->directory.'/run/php-fpm.pid', $fpm);
    }

    public function testRendersHaproxySpeakingFastCgiWithTheVersionHeader(): void
    {
        file_put_contents($this->directory.'/VERSION', "3.1.0~b4+gabcdef0\n");
        $config = WebConfig::fromEnvironment(
            $this->environment(['PORT' => '9000', 'HOST' => '127.0.0.1', 'RUN_DIR' => $this->directory.'/run', 'APP_INSTANCE' => 'web-2']),
            $this->directory,
            $this->host()
        );
        $haproxy = $config->renderHaproxyConfig();

        $this->assertStringContainsString('bind 127.0.0.1:9000', $haproxy);
        $this->assertStringContainsString('server fpm unix@'.$this->directory.'/run/php-fpm.sock proto fcgi maxconn 8', $haproxy);
        $this->assertStringContainsString('set-param SCRIPT_FILENAME '.$this->directory.'/public/index.php', $haproxy);
        $this->assertStringContainsString('X-App-Version "3.1.0~b4+gabcdef0"', $haproxy);
        $this->assertStringContainsString('X-App-Instance "web-2"', $haproxy);
    }

    public function testBindsIpv6AddressesInBrackets(): void
    {
        $config = WebConfig::fromEnvironment($this->environment(['PORT' => '9000', 'HOST' => '::1']), $this->directory, $this->host());

        $this->assertStringContainsString('bind [::1]:9000', $config->renderHaproxyConfig());
    }

    public function testHaproxyAndPhpFpmAcceptTheRenderedConfigurations(): void
    {
        $config = WebConfig::fromEnvironment($this->environment(['PORT' => '9000', 'RUN_DIR' => $this->directory.'/run']), $this->directory, new Host());
        mkdir($config->runDirectory);
        file_put_contents($config->haproxyConfigFile(), $config->renderHaproxyConfig());
        file_put_contents($config->fpmConfigFile(), $config->renderFpmConfig());

        exec(escapeshellarg($config->haproxyBinary).' -c -q -f '.escapeshellarg($config->haproxyConfigFile()).' 2>&1', $haproxyOutput, $haproxyStatus);
        $this->assertSame(0, $haproxyStatus, implode("\n", $haproxyOutput));

        exec(escapeshellarg($config->fpmBinary).' --test --fpm-config '.escapeshellarg($config->fpmConfigFile()).' 2>&1', $fpmOutput, $fpmStatus);
        $this->assertSame(0, $fpmStatus, implode("\n", $fpmOutput));
    }

    public function testForcesSettingsFromThePhpIniFileOnTheWorkers(): void
    {
        file_put_contents($this->directory.'/fpm.ini', "memory_limit = 192M\nmax_execution_time = 30\n");
        $config = WebConfig::fromEnvironment($this->environment(['PORT' => '9000', 'WEB_PHP_INI' => $this->directory.'/fpm.ini']), $this->directory, $this->host());

        $this->assertSame(['memory_limit' => '192M', 'max_execution_time' => '30'], $config->phpSettings);
        $this->assertStringContainsString('php_admin_value[memory_limit] = 192M', $config->renderFpmConfig());
    }

    /**
     * @param  array<string, string>  $values
     * @return array<string, string>
     */
    private function environment(array $values): array
    {
        // Real binaries, so that these tests do not depend on PATH.
        return $values + ['PHP_FPM_BIN' => (new Host())->findExecutable(['php-fpm'.PHP_MAJOR_VERSION.'.'.PHP_MINOR_VERSION, 'php-fpm']) ?? '/usr/sbin/php-fpm', 'HAPROXY_BIN' => (new Host())->findExecutable(['haproxy']) ?? '/usr/sbin/haproxy'];
    }

    private function host(bool $root = false, string $storageOwner = 'laravel-app'): Host
    {
        return new class($root, $storageOwner) extends Host
        {
            public function __construct(private bool $root, private string $storageOwner)
            {
            }

            public function isRoot(): bool
            {
                return $this->root;
            }

            public function cpuCount(): int
            {
                return 4;
            }

            public function ownerOf(string $path): ?string
            {
                return $this->storageOwner;
            }

            public function primaryGroupOf(string $user): ?string
            {
                return in_array($user, ['laravel-app', 'www-data', 'root'], true) ? $user : null;
            }
        };
    }
}
