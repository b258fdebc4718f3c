<?php

namespace App\Runtime;

use RuntimeException;

/**
 * Runs the `web` process: php-fpm (FastCGI on a Unix socket) with HAProxy in
 * front on HOST:PORT, as one supervised process.
 *
 * - SIGTERM or SIGINT: graceful stop. HAProxy soft-stops (stops listening,
 *   finishes the requests in flight), then php-fpm gets SIGQUIT (workers finish
 *   their request), within WEB_STOP_TIMEOUT; whatever is left is then killed.
 * - SIGHUP: php-fpm reloads its workers gracefully (new code, cleared opcache).
 * - If php-fpm or HAProxy dies, the other one is stopped and the process exits
 *   with status 1, for the supervisor to restart it.
 *
 * The two children run in process groups of their own, so a signal sent to the
 * whole group of this process (as supervisors do) reaches only this process,
 * which stops the children in order. A guardian process watches this one: if
 * it is killed outright, the guardian terminates the children, so nothing keeps
 * the port.
 */
final class WebSupervisor
{
    private ?int $guardian = null;

    private ?int $fpm = null;

    private ?int $haproxy = null;

    /** @var resource|null the write end of the pipe the guardian watches */
    private $lifeline = null;

    public function __construct(private WebConfig $config)
    {
    }

    public function run(): int
    {
        $this->prepareRunDirectory();
        pcntl_sigprocmask(SIG_BLOCK, [SIGTERM, SIGINT, SIGHUP, SIGCHLD]);

        try {
            $this->startGuardian();
            $this->fpm = $this->spawn($this->config->fpmBinary, ['--nodaemonize', '--force-stderr', '--fpm-config', $this->config->fpmConfigFile()]);
            $problem = $this->waitForFpmSocket(10.0);
            if ($problem !== null) {
                $this->log($problem);

                return $this->shutdown(1);
            }
            $this->haproxy = $this->spawn($this->config->haproxyBinary, ['-db', '-f', $this->config->haproxyConfigFile()]);
        } catch (RuntimeException $e) {
            $this->log($e->getMessage());

            return $this->shutdown(1);
        }

        $this->log(sprintf(
            'listening on %s:%d (HAProxy pid %d, php-fpm pid %d, %d workers, version %s)',
            $this->config->host, $this->config->port, $this->haproxy, $this->fpm, $this->config->concurrency, $this->config->version
        ));

        return $this->superviseUntilStopped();
    }

    private function superviseUntilStopped(): int
    {
        while (true) {
            $signal = pcntl_sigtimedwait([SIGTERM, SIGINT, SIGHUP, SIGCHLD], $info, 1);
            if ($signal === SIGTERM || $signal === SIGINT) {
                $this->log('stopping gracefully (signal '.$signal.')');

                return $this->shutdown(0);
            }
            if ($signal === SIGHUP && $this->fpm !== null) {
                $this->log('reloading php-fpm workers');
                posix_kill($this->fpm, SIGUSR2);
            }
            if (($exited = $this->reapExitedChild()) !== null) {
                [$name, $status] = $exited;
                $this->log("{$name} exited unexpectedly ({$status}); stopping");

                return $this->shutdown(1);
            }
        }
    }

    /**
     * Stops HAProxy first (no new requests; those in flight finish), then
     * php-fpm, both within the stop timeout.
     */
    private function shutdown(int $status): int
    {
        $deadline = microtime(true) + $this->config->stopTimeout;
        if ($this->haproxy !== null) {
            posix_kill($this->haproxy, SIGUSR1);
            $this->waitFor($this->haproxy, $deadline) || $this->kill($this->haproxy, 'HAProxy');
            $this->haproxy = null;
        }
        if ($this->fpm !== null) {
            posix_kill($this->fpm, SIGQUIT);
            $this->waitFor($this->fpm, $deadline) || $this->kill($this->fpm, 'php-fpm');
            $this->fpm = null;
        }
        if ($this->lifeline !== null) {
            // The children are reaped: their pids may be reused, so the guardian must not signal them.
            fwrite($this->lifeline, "clear\n");
            fclose($this->lifeline);
            $this->lifeline = null;
        }
        if ($this->guardian !== null) {
            pcntl_waitpid($this->guardian, $ignored);
            $this->guardian = null;
        }
        @unlink($this->config->pidFile());
        @unlink($this->config->fpmSocket());
        @unlink($this->config->haproxyStatsSocket());
        $this->log($status === 0 ? 'stopped' : 'stopped after a failure');

        return $status;
    }

    private function prepareRunDirectory(): void
    {
        $directory = $this->config->runDirectory;
        if (! is_dir($directory) && ! @mkdir($directory, 0755, true) && ! is_dir($directory)) {
            throw new RuntimeException("Cannot start the web process: cannot create the run directory \"{$directory}\"");
        }
        $pidFile = $this->config->pidFile();
        if (is_file($pidFile)) {
            $other = (int) trim((string) file_get_contents($pidFile));
            if ($other > 0 && $other !== getmypid() && posix_kill($other, 0)) {
                throw new RuntimeException("Cannot start the web process: process {$other} already uses the run directory \"{$directory}\"; give this instance its own RUN_DIR");
            }
        }
        @unlink($this->config->fpmSocket());
        file_put_contents($this->config->fpmConfigFile(), $this->config->renderFpmConfig());
        file_put_contents($this->config->haproxyConfigFile(), $this->config->renderHaproxyConfig());
        file_put_contents($pidFile, getmypid()."\n");
    }

    /**
     * The guardian runs in its own process group and blocks on a pipe from this
     * process, reading the pids of the children as they start. When the pipe
     * closes (this process ended, however it ended) it sends them SIGTERM, unless
     * this process said "clear" first, after reaping them itself.
     */
    private function startGuardian(): void
    {
        $pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        if ($pair === false) {
            throw new RuntimeException('Cannot start the web process: cannot create the guardian pipe');
        }
        $pid = pcntl_fork();
        if ($pid === -1) {
            throw new RuntimeException('Cannot start the web process: fork failed');
        }
        if ($pid === 0) {
            posix_setpgid(0, 0);
            fclose($pair[0]);
            $children = [];
            // Reads time out (default_socket_timeout); only the end of the stream counts.
            stream_set_timeout($pair[1], 3600);
            while (true) {
                $line = fgets($pair[1]);
                if ($line === "clear\n") {
                    $children = [];
                } elseif ($line !== false) {
                    $children[] = (int) $line;
                } elseif (feof($pair[1])) {
                    break;
                }
            }
            foreach ($children as $child) {
                if ($child > 0) {
                    posix_kill($child, SIGTERM);
                }
            }
            // Leave without running the parent's shutdown code.
            posix_kill(getmypid(), SIGKILL);
        }
        fclose($pair[1]);
        $this->lifeline = $pair[0];
        $this->guardian = $pid;
    }

    /**
     * Starts a child in its own process group, so that a signal sent to this
     * process's group does not reach it; only this process decides how it stops.
     *
     * @param  list<string>  $arguments
     */
    private function spawn(string $binary, array $arguments): int
    {
        $pid = pcntl_fork();
        if ($pid === -1) {
            throw new RuntimeException("Cannot start {$binary}: fork failed");
        }
        if ($pid === 0) {
            posix_setpgid(0, 0);
            pcntl_sigprocmask(SIG_SETMASK, []);
            if ($this->lifeline !== null) {
                fclose($this->lifeline);
            }
            pcntl_exec($binary, $arguments);
            fwrite(STDERR, "web: cannot execute {$binary}\n");
            posix_kill(getmypid(), SIGKILL);
        }
        @posix_setpgid($pid, $pid);
        if ($this->lifeline !== null) {
            fwrite($this->lifeline, $pid."\n");
        }

        return $pid;
    }

    /** Null once php-fpm listens, else what went wrong. */
    private function waitForFpmSocket(float $seconds): ?string
    {
        $deadline = microtime(true) + $seconds;
        while (microtime(true) < $deadline) {
            if (file_exists($this->config->fpmSocket())) {
                return null;
            }
            if (($exited = $this->reapExitedChild()) !== null) {
                return "{$exited[0]} exited during start ({$exited[1]}); its messages are above";
            }
            usleep(20_000);
        }

        return 'php-fpm did not open its socket '.$this->config->fpmSocket()." within {$seconds} s";
    }

    /**
     * @return array{0: string, 1: string}|null which child exited and how
     */
    private function reapExitedChild(): ?array
    {
        while (($pid = pcntl_waitpid(-1, $status, WNOHANG)) > 0) {
            $how = pcntl_wifexited($status) ? 'status '.pcntl_wexitstatus($status) : 'signal '.pcntl_wtermsig($status);
            if ($pid === $this->fpm) {
                $this->fpm = null;

                return ['php-fpm', $how];
            }
            if ($pid === $this->haproxy) {
                $this->haproxy = null;

                return ['HAProxy', $how];
            }
            if ($pid === $this->guardian) {
                $this->guardian = null;

                return ['the guardian', $how];
            }
        }

        return null;
    }

    private function waitFor(int $pid, float $deadline): bool
    {
        while (microtime(true) < $deadline) {
            $result = pcntl_waitpid($pid, $status, WNOHANG);
            if ($result === $pid || $result === -1) {
                return true;
            }
            usleep(20_000);
        }

        return false;
    }

    private function kill(int $pid, string $name): bool
    {
        $this->log("{$name} did not stop within {$this->config->stopTimeout} s; killing it");
        posix_kill($pid, SIGKILL);
        pcntl_waitpid($pid, $status);

        return true;
    }

    private function log(string $message): void
    {
        fwrite(STDERR, 'web['.getmypid()."]: {$message}\n");
    }
}
