<?php

namespace App\Http\Middleware;

use Illuminate\Http\Middleware\TrustProxies as Middleware;
use Illuminate\Http\Request;

/**
 * Trusts X-Forwarded-* from the proxies listed in TRUSTED_PROXIES (comma
 * separated addresses or CIDRs, or "*"); the app's own HAProxy talks FastCGI
 * and sets REMOTE_ADDR itself.
 */
class TrustProxies extends Middleware
{
    protected $headers = Request::HEADER_X_FORWARDED_FOR
        | Request::HEADER_X_FORWARDED_HOST
        | Request::HEADER_X_FORWARDED_PORT
        | Request::HEADER_X_FORWARDED_PROTO;

    protected function proxies()
    {
        $configured = trim((string) config('app.trusted_proxies'));
        if ($configured === '') {
            return null;
        }

        return $configured === '*' ? '*' : array_map('trim', explode(',', $configured));
    }
}
