<?php

use App\Http\Controllers\AnalysisController;
use App\Http\Controllers\EventController;
use App\Http\Controllers\OrganisationController;
use App\Http\Controllers\SummaryController;
use App\Http\Controllers\UserController;
use Illuminate\Support\Facades\Route;

/*
 * The JSON REST API, under /api. Every response is JSON, errors included
 * (validation errors are 422 with {"message", "errors": {field: [..]}}).
 */

Route::get('summary', SummaryController::class);

Route::get('organisations', [OrganisationController::class, 'index']);
Route::post('organisations', [OrganisationController::class, 'store']);
Route::get('organisations/{organisation}', [OrganisationController::class, 'show']);

Route::get('organisations/{organisation}/users', [UserController::class, 'index']);
Route::post('organisations/{organisation}/users', [UserController::class, 'store']);
Route::get('users/{user}', [UserController::class, 'show']);

Route::get('organisations/{organisation}/events', [EventController::class, 'index']);
Route::post('organisations/{organisation}/events', [EventController::class, 'store']);

Route::get('organisations/{organisation}/analyses', [AnalysisController::class, 'index']);
Route::post('organisations/{organisation}/analyses', [AnalysisController::class, 'store']);
Route::get('analyses/latest', [AnalysisController::class, 'latest']);
Route::get('analysis-runs', [AnalysisController::class, 'runs']);
