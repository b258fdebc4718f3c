<?php

namespace App\Http\Middleware;

use Closure;
use Illuminate\Http\Request;

/**
 * When METRICS_TOKEN is set, /metrics answers only to "Authorization: Bearer <token>".
 */
class RequireMetricsToken
{
    public function handle(Request $request, Closure $next): mixed
    {
        $expected = (string) config('metrics.token');
        if ($expected !== '' && ! hash_equals($expected, (string) $request->bearerToken())) {
            return response()->json(['message' => 'Metrics need a bearer token: send "Authorization: Bearer <METRICS_TOKEN>"'], 401)
                ->header('WWW-Authenticate', 'Bearer');
        }

        return $next($request);
    }
}
