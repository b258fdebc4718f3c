<?php

namespace App\Console;

use App\Console\Commands\AnalyseAccounts;
use App\Console\Commands\DispatchQueueProbe;
use App\Exceptions\InvalidInput;
use App\Models\AccountAnalysis;
use Cron\CronExpression;
use Illuminate\Console\Scheduling\Schedule;
use Illuminate\Foundation\Console\Kernel as ConsoleKernel;

class Kernel extends ConsoleKernel
{
    protected $commands = [
        AnalyseAccounts::class,
        DispatchQueueProbe::class,
    ];

    /**
     * Run by `php artisan schedule:work` (the scheduler process) or by cron with
     * `php artisan schedule:run` every minute. Tasks run on one server only, so
     * several scheduler instances may run without doubling the work.
     */
    protected function schedule(Schedule $schedule): void
    {
        $cron = (string) config('analysis.schedule');
        if (! CronExpression::isValidExpression($cron)) {
            throw new InvalidInput("Cannot schedule the account analysis: ANALYSIS_SCHEDULE is \"{$cron}\" but must be a cron expression, like \"* * * * *\" or \"*/5 * * * *\"");
        }

        $schedule->command('accounts:analyse', ['--trigger' => 'schedule'])
            ->cron($cron)
            ->name('account-analysis')
            ->withoutOverlapping(10)
            ->onOneServer();

        $schedule->command('model:prune', ['--model' => [AccountAnalysis::class]])
            ->daily()
            ->onOneServer();

        $schedule->command('queue:prune-failed', ['--hours' => 24 * 30])
            ->daily()
            ->onOneServer();
    }

    protected function commands(): void
    {
        require base_path('routes/console.php');
    }
}
