<?php

namespace App\Http\Controllers;

use App\Http\Resources\AnalysisResource;
use App\Jobs\AnalyseAccount;
use App\Models\AnalysisRun;
use App\Models\Organisation;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Resources\Json\AnonymousResourceCollection;
use Illuminate\Support\Facades\DB;

class AnalysisController extends Controller
{
    /** GET /api/organisations/{id}/analyses: this organisation's results, newest first. */
    public function index(Request $request, Organisation $organisation): AnonymousResourceCollection
    {
        $analyses = $organisation->analyses()->orderByDesc('id')->cursorPaginate($this->perPage($request))->withQueryString();

        return AnalysisResource::collection($analyses);
    }

    /** POST /api/organisations/{id}/analyses: queue an analysis of this organisation now (202). */
    public function store(Organisation $organisation): JsonResponse
    {
        AnalyseAccount::dispatch($organisation->id);

        return response()->json([
            'message' => "Queued an analysis of organisation {$organisation->id}",
            'organisation_id' => $organisation->id,
            'queue' => config('analysis.queue'),
        ], 202);
    }

    /** GET /api/analyses/latest?page=&per_page=: every organisation with its latest result (null when never analysed). */
    public function latest(Request $request): JsonResponse
    {
        $perPage = $this->perPage($request);
        $validated = $this->validate($request, ['page' => ['sometimes', 'integer', 'min:1']]);
        $page = (int) ($validated['page'] ?? 1);

        $total = DB::table('organisations')->count();
        // LATERAL with LIMIT 1 walks the (organisation_id, id) index backwards: one
        // index probe per organisation, however many results are kept.
        $rows = DB::select(
            'SELECT o.id, o.name, o.plan, a.id AS analysis_id, a.analysis_run_id, a.events_count, a.users_seen,
                    a.active_users, a.events_by_type, a.revenue_cents, a.first_event_at, a.last_event_at,
                    a.busiest_day, a.busiest_day_events, a.chunks, a.peak_memory_bytes, a.duration_seconds,
                    a.created_at AS analysed_at
               FROM organisations o
          LEFT JOIN LATERAL (SELECT * FROM account_analyses x WHERE x.organisation_id = o.id ORDER BY x.id DESC LIMIT 1) a ON true
              ORDER BY o.id
              LIMIT ? OFFSET ?',
            [$perPage, ($page - 1) * $perPage]
        );

        return response()->json([
            'data' => array_map(fn ($row) => [
                'organisation' => ['id' => (int) $row->id, 'name' => $row->name, 'plan' => $row->plan],
                'analysis' => $row->analysis_id === null ? null : AnalysisResource::fromRow($row),
            ], $rows),
            'meta' => [
                'current_page' => $page,
                'per_page' => $perPage,
                'total' => $total,
                'last_page' => max(1, (int) ceil($total / $perPage)),
            ],
        ]);
    }

    /** GET /api/analysis-runs?per_page=: the latest runs with their progress and wall-clock duration. */
    public function runs(Request $request): JsonResponse
    {
        $runs = AnalysisRun::orderByDesc('id')->limit($this->perPage($request))->get();

        return response()->json(['data' => $runs->map(fn (AnalysisRun $run) => [
            'id' => $run->id,
            'trigger' => $run->trigger,
            'organisations_total' => $run->organisations_total,
            'organisations_done' => $run->organisations_done,
            'organisations_failed' => $run->organisations_failed,
            'events_total' => $run->events_total,
            'started_at' => $run->started_at?->toIso8601String(),
            'finished_at' => $run->finished_at?->toIso8601String(),
            'duration_seconds' => $run->duration_seconds,
        ])]);
    }
}
