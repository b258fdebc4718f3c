<?php

namespace Tests\Regression;

use PHPUnit\Framework\TestCase;

/**
 * Base of the regression suite: plain HTTP against a deployed instance named by
 * APP_URL, so it runs the same against a laptop, integration or staging.
 */
abstract class HttpTestCase extends TestCase
{
    protected static string $baseUrl;

    public static function setUpBeforeClass(): void
    {
        $url = getenv('APP_URL');
        if ($url === false || preg_match('#^https?://[^/\s]+#', $url) !== 1) {
            // Failing, not skipping: a regression run without a target proves nothing.
            throw new \RuntimeException('The regression suite needs APP_URL: set it to the deployed instance, like APP_URL=http://127.0.0.1:8080');
        }
        static::$baseUrl = rtrim($url, '/');
    }

    /**
     * @param  array<string, mixed>|null  $json
     * @param  array<string, string>  $headers
     * @return array{status: int, headers: array<string, string>, body: string, json: mixed}
     */
    protected function request(string $method, string $path, ?array $json = null, array $headers = []): array
    {
        $curl = curl_init(static::$baseUrl.$path);
        $sent = ['Accept: application/json'];
        foreach ($headers as $name => $value) {
            $sent[] = "{$name}: {$value}";
        }
        $responseHeaders = [];
        curl_setopt_array($curl, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT => 30,
            CURLOPT_HEADERFUNCTION => function ($curl, string $line) use (&$responseHeaders) {
                if (str_contains($line, ':')) {
                    [$name, $value] = explode(':', $line, 2);
                    $responseHeaders[strtolower(trim($name))] = trim($value);
                }

                return strlen($line);
            },
        ]);
        if ($json !== null) {
            $sent[] = 'Content-Type: application/json';
            curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($json, JSON_THROW_ON_ERROR));
        }
        curl_setopt($curl, CURLOPT_HTTPHEADER, $sent);
        $body = curl_exec($curl);
        if ($body === false) {
            $this->fail("{$method} {$path} failed: ".curl_error($curl));
        }
        $status = (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        curl_close($curl);

        return [
            'status' => $status,
            'headers' => $responseHeaders,
            'body' => $body,
            'json' => str_contains($responseHeaders['content-type'] ?? '', 'json') ? json_decode($body, true) : null,
        ];
    }

    /**
     * Polls until $check returns a non-null value, or fails after $seconds.
     */
    protected function eventually(callable $check, float $seconds, string $what): mixed
    {
        $deadline = microtime(true) + $seconds;
        do {
            $value = $check();
            if ($value !== null) {
                return $value;
            }
            usleep(200_000);
        } while (microtime(true) < $deadline);

        $this->fail("Timed out after {$seconds} s waiting until {$what}");
    }

    protected function uniqueName(string $prefix): string
    {
        return $prefix.' '.bin2hex(random_bytes(4));
    }
}
