<?php

namespace App\Http\Middleware;

use Closure;
use Illuminate\Http\Request;

/**
 * API clients get JSON whatever their Accept header says: validation errors
 * become 422 JSON instead of a redirect, and errors never render HTML.
 */
class ExpectJson
{
    public function handle(Request $request, Closure $next): mixed
    {
        $request->headers->set('Accept', 'application/json');

        return $next($request);
    }
}
