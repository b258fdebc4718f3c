<?php

namespace App\Jobs;

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Support\Facades\DB;

/**
 * A deliberately long job that records when it starts and finishes.
 *
 * Operators (and the project's tests) dispatch it with `php artisan queue:probe`
 * to check that a worker told to stop (SIGTERM, queue:restart) lets the job in
 * hand finish first. It keeps working through signals: sleep() returns early
 * when one arrives, so the loop checks the clock instead.
 */
class QueueProbe implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public int $tries = 1;

    public int $timeout;

    public function __construct(public int $probeId, public float $seconds)
    {
        $this->timeout = (int) ceil($seconds) + 60;
    }

    public function handle(): void
    {
        DB::update(
            "UPDATE queue_probes SET status = 'running', worker_pid = ?, started_at = clock_timestamp() WHERE id = ?",
            [getmypid(), $this->probeId]
        );

        $deadline = hrtime(true) + (int) ($this->seconds * 1e9);
        while (($left = $deadline - hrtime(true)) > 0) {
            usleep((int) min(100_000, $left / 1000));
        }

        DB::update(
            "UPDATE queue_probes SET status = 'finished', finished_at = clock_timestamp() WHERE id = ?",
            [$this->probeId]
        );
    }
}
