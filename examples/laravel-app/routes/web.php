<?php

use App\Http\Controllers\AdminUiController;
use App\Http\Controllers\HealthController;
use App\Http\Controllers\MetricsController;
use Illuminate\Support\Facades\Route;

// Health for load balancers and deploy gates: 200 only when the database answers.
Route::get('up', HealthController::class);

// Prometheus text exposition.
Route::get('metrics', MetricsController::class)->middleware('metrics.token');

// The AngularJS admin UI (its assets are under /build/, served by public/asset.php).
Route::get('/', AdminUiController::class);
