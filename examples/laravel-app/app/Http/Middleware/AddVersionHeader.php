<?php

namespace App\Http\Middleware;

use Closure;
use Illuminate\Http\Request;
use Symfony\Component\HttpFoundation\Response;

/**
 * Puts the deployed version (and the instance, when named) on every response,
 * so a rollout can be watched from outside.
 */
class AddVersionHeader
{
    public function handle(Request $request, Closure $next): Response
    {
        /** @var Response $response */
        $response = $next($request);
        $response->headers->set('X-App-Version', (string) config('app.version'));
        if (($instance = config('app.instance')) !== null && $instance !== '') {
            $response->headers->set('X-App-Instance', (string) $instance);
        }

        return $response;
    }
}
