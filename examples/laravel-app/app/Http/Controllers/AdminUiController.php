<?php

namespace App\Http\Controllers;

use Symfony\Component\HttpFoundation\Response;

/**
 * GET /: the AngularJS admin UI's page, built into public/build by `npm run build`.
 */
class AdminUiController extends Controller
{
    public function __invoke(): Response
    {
        $page = public_path('build/index.html');
        if (! is_file($page)) {
            return response()->json([
                'message' => 'The admin UI is not built: run "npm ci && npm run build" in the application directory',
            ], 503);
        }

        return response()->file($page, [
            'Content-Type' => 'text/html; charset=utf-8',
            'Cache-Control' => 'no-cache',
            // AngularJS runs in CSP mode (ng-csp): no inline scripts, no eval.
            'Content-Security-Policy' => "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            'X-Content-Type-Options' => 'nosniff',
        ]);
    }
}
