<?php

namespace App\Http\Controllers;

use App\Metrics\AppMetrics;
use App\Metrics\PrometheusText;
use Illuminate\Http\Response;

/**
 * GET /metrics: Prometheus text exposition of the app's business and queue metrics.
 */
class MetricsController extends Controller
{
    public function __invoke(AppMetrics $metrics): Response
    {
        return response($metrics->render((string) config('app.version')), 200, [
            'Content-Type' => PrometheusText::CONTENT_TYPE,
            'Cache-Control' => 'no-store',
        ]);
    }
}
