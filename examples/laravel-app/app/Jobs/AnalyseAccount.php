<?php

namespace App\Jobs;

use App\Analysis\AccountAnalyser;
use App\Models\Organisation;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Support\Facades\Log;
use Throwable;

/**
 * Aggregates one organisation's events into an account analysis.
 *
 * Carries ids rather than models: an organisation deleted while the job waits
 * is counted as done instead of failing the job.
 */
class AnalyseAccount implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public int $tries = 3;

    public int $timeout;

    /** @var list<int> */
    public array $backoff = [5, 30];

    public function __construct(public int $organisationId, public ?int $runId = null)
    {
        $this->timeout = (int) config('analysis.timeout');
        $this->onQueue(config('analysis.queue'));
    }

    public function handle(AccountAnalyser $analyser): void
    {
        if (! Organisation::whereKey($this->organisationId)->exists()) {
            Log::info('Skipped the analysis of a deleted organisation', ['organisation_id' => $this->organisationId]);
            if ($this->runId !== null) {
                $analyser->recordProgress($this->runId, 0, failed: false);
            }

            return;
        }

        $analysis = $analyser->analyse($this->organisationId, $this->runId);
        Log::info('Analysed an organisation', [
            'organisation_id' => $this->organisationId,
            'run_id' => $this->runId,
            'events' => $analysis->events_count,
            'duration_seconds' => round($analysis->duration_seconds, 4),
        ]);
    }

    /** After the last attempt: the run still completes, with this organisation counted as failed. */
    public function failed(Throwable $exception): void
    {
        if ($this->runId !== null) {
            app(AccountAnalyser::class)->recordProgress($this->runId, 0, failed: true);
        }
    }
}
