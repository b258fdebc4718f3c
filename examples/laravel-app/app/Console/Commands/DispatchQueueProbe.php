<?php

namespace App\Console\Commands;

use App\Jobs\QueueProbe;
use Illuminate\Console\Command;
use Illuminate\Support\Facades\DB;

/**
 * Queues a deliberately long job, to watch a worker drain gracefully.
 */
class DispatchQueueProbe extends Command
{
    protected $signature = 'queue:probe
        {seconds=10 : How long the job works, in seconds (0.1 to 3600)}
        {--queue=default : The queue to put it on}';

    protected $description = 'Queue a long job that records its start and finish (to check graceful worker stops)';

    public function handle(): int
    {
        $seconds = $this->argument('seconds');
        if (! is_numeric($seconds) || (float) $seconds < 0.1 || (float) $seconds > 3600) {
            $this->error("Cannot queue a probe: seconds is \"{$seconds}\" but must be a number from 0.1 to 3600");

            return self::INVALID;
        }

        $id = DB::table('queue_probes')->insertGetId(['seconds' => (float) $seconds]);
        QueueProbe::dispatch($id, (float) $seconds)->onQueue($this->option('queue'));

        // The id alone on the last line, for scripts.
        $this->line((string) $id);

        return self::SUCCESS;
    }
}
