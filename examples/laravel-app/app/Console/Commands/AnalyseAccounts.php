<?php

namespace App\Console\Commands;

use App\Jobs\AnalyseAccount;
use App\Models\AnalysisRun;
use Illuminate\Console\Command;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Queue;

/**
 * Starts an account-analysis run: one queued AnalyseAccount job per organisation.
 */
class AnalyseAccounts extends Command
{
    protected $signature = 'accounts:analyse
        {--organisation=* : Analyse only these organisation ids}
        {--force : Start even when the previous run has not finished}
        {--trigger=manual : What started the run (the scheduler passes "schedule")}';

    protected $description = 'Queue an account analysis for every organisation (the scheduler runs this)';

    public function handle(): int
    {
        $trigger = (string) $this->option('trigger');
        if (! in_array($trigger, ['manual', 'schedule'], true)) {
            $this->error("Cannot start an analysis run: trigger is \"{$trigger}\" but must be \"manual\" or \"schedule\"");

            return self::INVALID;
        }

        $only = array_map('strval', (array) $this->option('organisation'));
        foreach ($only as $id) {
            if (! ctype_digit($id)) {
                $this->error("Cannot start an analysis run: organisation id \"{$id}\" is not a positive integer");

                return self::INVALID;
            }
        }

        if (! $this->option('force') && ($pending = $this->unfinishedRun()) !== null) {
            $this->warn("Skipped: run {$pending->id} started at {$pending->started_at->toIso8601String()} "
                ."has {$pending->organisations_done} of {$pending->organisations_total} organisations done (use --force to start anyway)");

            return self::SUCCESS;
        }

        $query = DB::table('organisations')->select('id')->orderBy('id');
        if ($only !== []) {
            $query->whereIn('id', array_map('intval', $only));
        }
        $total = (clone $query)->count();
        if ($total === 0) {
            $this->info('No organisations to analyse');

            return self::SUCCESS;
        }

        // The run and all its jobs appear together or not at all.
        $run = DB::transaction(function () use ($query, $total, $trigger) {
            $run = AnalysisRun::create([
                'trigger' => $trigger,
                'organisations_total' => $total,
                'started_at' => now(),
            ]);
            $queue = config('analysis.queue');
            $query->chunk(500, function ($organisations) use ($run, $queue) {
                Queue::bulk(
                    $organisations->map(fn ($organisation) => new AnalyseAccount((int) $organisation->id, $run->id))->all(),
                    '',
                    $queue
                );
            });

            return $run;
        });

        $this->info("Started analysis run {$run->id} for {$total} organisations");

        return self::SUCCESS;
    }

    private function unfinishedRun(): ?AnalysisRun
    {
        return AnalysisRun::whereNull('finished_at')
            ->where('started_at', '>', now()->subSeconds(max(1, (int) config('analysis.stale_after'))))
            ->orderByDesc('id')
            ->first();
    }
}
