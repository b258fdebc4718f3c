<?php

namespace Tests\Regression;

final class HealthTest extends HttpTestCase
{
    public function testUpIsHealthyAndReportsTheVersionItServes(): void
    {
        $response = $this->request('GET', '/up');

        $this->assertSame(200, $response['status'], $response['body']);
        $this->assertSame('ok', $response['json']['status']);
        $this->assertSame('ok', $response['json']['checks']['database']['status']);
        $this->assertNotEmpty($response['json']['version']);
        $this->assertSame($response['json']['version'], $response['headers']['x-app-version'] ?? null);
        $this->assertSame('no-store', explode(',', $response['headers']['cache-control'])[0]);
    }

    public function testEveryKindOfResponseCarriesTheVersion(): void
    {
        $version = $this->request('GET', '/up')['json']['version'];

        foreach ([['GET', '/api/organisations'], ['GET', '/api/organisations/0'], ['GET', '/no-such-page'], ['POST', '/api/organisations'], ['GET', '/metrics'], ['GET', '/']] as [$method, $path]) {
            $response = $this->request($method, $path, $method === 'POST' ? [] : null, $this->metricsHeaders($path));
            $this->assertSame($version, $response['headers']['x-app-version'] ?? null, "{$method} {$path} ({$response['status']}) has no X-App-Version");
            $this->assertNotEmpty($response['headers']['x-request-id'] ?? null, "{$method} {$path} has no X-Request-Id");
        }
    }

    /**
     * @return array<string, string>
     */
    private function metricsHeaders(string $path): array
    {
        $token = getenv('METRICS_TOKEN');

        return $path === '/metrics' && $token ? ['Authorization' => "Bearer {$token}"] : [];
    }
}
