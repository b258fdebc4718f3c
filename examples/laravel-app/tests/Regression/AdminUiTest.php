<?php

namespace Tests\Regression;

final class AdminUiTest extends HttpTestCase
{
    public function testServesTheAngularAdminUiAndItsHashedAssets(): void
    {
        $page = $this->request('GET', '/', null, ['Accept' => 'text/html']);

        $this->assertSame(200, $page['status'], $page['body']);
        $this->assertStringStartsWith('text/html', $page['headers']['content-type']);
        $this->assertStringContainsString('ng-app="adminApp"', $page['body']);
        $this->assertStringContainsString("script-src 'self'", $page['headers']['content-security-policy'] ?? '');
        $this->assertSame(2, preg_match_all('#<script src="(/build/[^"]+\.js)"#', $page['body'], $scripts));

        foreach ($scripts[1] as $script) {
            $asset = $this->request('GET', $script);
            $this->assertSame(200, $asset['status'], $script);
            $this->assertStringStartsWith('text/javascript', $asset['headers']['content-type']);
            $this->assertStringContainsString('immutable', $asset['headers']['cache-control']);
            $this->assertSame('"'.hash('sha256', $asset['body']).'"', $asset['headers']['etag']);
        }
        $this->assertStringContainsString("module('adminApp'", $this->request('GET', $scripts[1][1])['body']);

        $this->assertSame(404, $this->request('GET', '/build/%2e%2e%2findex.php')['status']);
        $this->assertSame(404, $this->request('GET', '/build/missing.0123456789abcdef.js')['status']);
    }
}
