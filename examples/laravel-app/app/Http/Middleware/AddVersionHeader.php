<?php

namespace App\Http\Middleware;

use App\Support\Instance;
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
        if (($instance = Instance::name()) !== null) {
            $response->headers->set('X-App-Instance', $instance);
        }

        return $response;
    }
}
