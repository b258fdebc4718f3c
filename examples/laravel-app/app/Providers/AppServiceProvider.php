<?php

namespace App\Providers;

use App\Analysis\AccountAnalyser;
use App\Metrics\HistogramStore;
use App\Metrics\JobCounters;
use Illuminate\Queue\Events\JobFailed;
use Illuminate\Queue\Events\JobProcessed;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Queue;
use Illuminate\Support\ServiceProvider;

class AppServiceProvider extends ServiceProvider
{
    public function register(): void
    {
        $this->app->singleton(HistogramStore::class, fn () => new HistogramStore(DB::connection()));
        $this->app->singleton(JobCounters::class, fn () => new JobCounters(DB::connection()));
        $this->app->bind(AccountAnalyser::class, fn ($app) => new AccountAnalyser(
            DB::connection(),
            $app->make(HistogramStore::class),
            max(100, (int) config('analysis.chunk_size')),
            max(1, (int) config('analysis.active_days')),
        ));
    }

    public function boot(): void
    {
        // Jobs processed and failed, counted in the database so /metrics on any
        // web instance sees the work of every worker.
        Queue::after(function (JobProcessed $event) {
            if (! $event->job->hasFailed()) {
                $this->app->make(JobCounters::class)->increment($event->job->resolveName(), 'processed');
            }
        });
        Queue::failing(function (JobFailed $event) {
            $this->app->make(JobCounters::class)->increment($event->job->resolveName(), 'failed');
        });
    }
}
