<?php

namespace App\Http\Controllers;

use App\Support\Instance;
use Illuminate\Http\JsonResponse;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Log;
use Throwable;

/**
 * GET /up: 200 when the application and its database answer, 503 otherwise.
 */
class HealthController extends Controller
{
    public function __invoke(): JsonResponse
    {
        $started = hrtime(true);
        try {
            DB::select('SELECT 1');
            $database = ['status' => 'ok', 'latency_ms' => round((hrtime(true) - $started) / 1e6, 2)];
            $healthy = true;
        } catch (Throwable $e) {
            // The class only: driver messages can carry host and user names.
            Log::warning('Health check failed: the database does not answer', ['error' => get_class($e)]);
            $database = ['status' => 'unavailable'];
            $healthy = false;
        }

        return response()->json([
            'status' => $healthy ? 'ok' : 'unavailable',
            'version' => config('app.version'),
            'instance' => Instance::name(),
            'checks' => ['database' => $database],
        ], $healthy ? 200 : 503)->header('Cache-Control', 'no-store');
    }
}
