<?php

namespace App\Http\Controllers;

use Illuminate\Http\JsonResponse;
use Illuminate\Support\Facades\DB;

/**
 * GET /api/summary: the figures on the admin UI's front page.
 */
class SummaryController extends Controller
{
    public function __invoke(): JsonResponse
    {
        $row = DB::selectOne(
            "SELECT (SELECT count(*) FROM organisations) AS organisations,
                    (SELECT count(*) FROM users) AS users,
                    (SELECT coalesce(max(n_live_tup), 0) FROM pg_stat_user_tables
                      WHERE relname = 'events' AND schemaname = current_schema()) AS events_estimated,
                    (SELECT count(*) FROM jobs WHERE reserved_at IS NULL) AS queue_depth,
                    (SELECT count(*) FROM failed_jobs) AS failed_jobs"
        );
        $lastRun = DB::selectOne(
            'SELECT id, organisations_total, events_total, duration_seconds, finished_at
               FROM analysis_runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1'
        );

        return response()->json([
            'version' => config('app.version'),
            'organisations' => (int) $row->organisations,
            'users' => (int) $row->users,
            'events_estimated' => (int) $row->events_estimated,
            'queue_depth' => (int) $row->queue_depth,
            'failed_jobs' => (int) $row->failed_jobs,
            'last_run' => $lastRun === null ? null : [
                'id' => (int) $lastRun->id,
                'organisations' => (int) $lastRun->organisations_total,
                'events' => (int) $lastRun->events_total,
                'duration_seconds' => (float) $lastRun->duration_seconds,
                'finished_at' => \Illuminate\Support\Carbon::parse($lastRun->finished_at)->toIso8601String(),
            ],
        ]);
    }
}
