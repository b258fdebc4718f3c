<?php

namespace App\Metrics;

use App\Analysis\AccountAnalyser;
use Illuminate\Database\ConnectionInterface;

/**
 * Collects the application's business and queue metrics from PostgreSQL.
 *
 * Everything comes from the database, so every web instance reports the same
 * figures, covering the work of every worker on every host.
 */
final class AppMetrics
{
    public function __construct(
        private ConnectionInterface $db,
        private HistogramStore $histograms,
        private JobCounters $counters,
    ) {
    }

    public function render(string $version): string
    {
        $text = new PrometheusText();
        $text->gauge('app_info', 'Version of the running application.', [[['version' => $version], 1]]);

        $this->addDataMetrics($text);
        $this->addQueueMetrics($text);
        $this->addAnalysisMetrics($text);

        return $text->render();
    }

    private function addDataMetrics(PrometheusText $text): void
    {
        $counts = $this->db->selectOne(
            "SELECT (SELECT count(*) FROM organisations) AS organisations,
                    (SELECT count(*) FROM users) AS users,
                    (SELECT coalesce(max(n_live_tup), 0) FROM pg_stat_user_tables
                      WHERE relname = 'events' AND schemaname = current_schema()) AS events"
        );
        $text->gauge('app_organisations', 'Organisations (accounts) in the database.', [[[], (int) $counts->organisations]]);
        $text->gauge('app_users', 'Users in the database.', [[[], (int) $counts->users]]);
        $text->gauge('app_events_estimated', 'Rows in the events table, as estimated by PostgreSQL statistics.', [[[], (int) $counts->events]]);
    }

    private function addQueueMetrics(PrometheusText $text): void
    {
        $byQueue = [];
        foreach (config('queue.queues') as $queue) {
            $byQueue[$queue] = ['waiting' => 0, 'reserved' => 0, 'oldest' => 0.0];
        }
        $rows = $this->db->select(
            'SELECT queue,
                    count(*) FILTER (WHERE reserved_at IS NULL) AS waiting,
                    count(*) FILTER (WHERE reserved_at IS NOT NULL) AS reserved,
                    coalesce(extract(epoch FROM now()) - min(available_at) FILTER (WHERE reserved_at IS NULL
                        AND available_at <= extract(epoch FROM now())), 0) AS oldest
               FROM jobs GROUP BY queue ORDER BY queue'
        );
        foreach ($rows as $row) {
            $byQueue[$row->queue] = ['waiting' => (int) $row->waiting, 'reserved' => (int) $row->reserved, 'oldest' => max(0.0, (float) $row->oldest)];
        }

        $samples = fn (string $key) => array_map(fn ($queue) => [['queue' => (string) $queue], $byQueue[$queue][$key]], array_keys($byQueue));
        $text->gauge('app_queue_depth', 'Jobs waiting in the queue (not yet picked up by a worker).', $samples('waiting'));
        $text->gauge('app_queue_reserved_jobs', 'Jobs a worker is processing now.', $samples('reserved'));
        $text->gauge('app_queue_oldest_job_age_seconds', 'How long the oldest available job has waited.', $samples('oldest'));

        $failedStored = (int) $this->db->selectOne('SELECT count(*) AS n FROM failed_jobs')->n;
        $text->gauge('app_queue_failed_jobs', 'Failed jobs kept for inspection or retry (failed_jobs table).', [[[], $failedStored]]);

        $processed = [];
        $failed = [];
        foreach ($this->counters->all() as $counter) {
            if ($counter['status'] === 'processed') {
                $processed[] = [['job' => $counter['job']], $counter['count']];
            } elseif ($counter['status'] === 'failed') {
                $failed[] = [['job' => $counter['job']], $counter['count']];
            }
        }
        $text->counter('app_jobs_processed_total', 'Jobs processed successfully, per job class.', $processed);
        $text->counter('app_jobs_failed_total', 'Jobs failed after their last attempt, per job class.', $failed);
    }

    private function addAnalysisMetrics(PrometheusText $text): void
    {
        $perOrganisation = $this->histograms->read(AccountAnalyser::DURATION_METRIC, config('analysis.duration_buckets'));
        $text->histogram(
            'app_account_analysis_duration_seconds',
            "Time to analyse one organisation's events.",
            $perOrganisation['buckets'],
            $perOrganisation['sum'],
            $perOrganisation['count'],
        );
        $text->gauge(
            'app_account_analysis_last_duration_seconds',
            'Duration of the most recent analysis of one organisation.',
            $perOrganisation['last'] === null ? [] : [[[], $perOrganisation['last']]],
        );

        $runs = $this->histograms->read(AccountAnalyser::RUN_DURATION_METRIC, config('analysis.run_duration_buckets'));
        $text->histogram(
            'app_account_analysis_run_duration_seconds',
            'Wall-clock time of a whole account-analysis run, from dispatch until the last organisation is done.',
            $runs['buckets'],
            $runs['sum'],
            $runs['count'],
        );

        $last = $this->db->selectOne(
            'SELECT duration_seconds, organisations_total, events_total FROM analysis_runs
              WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1'
        );
        $text->gauge(
            'app_account_analysis_run_last_duration_seconds',
            'Wall-clock time of the most recent completed account-analysis run.',
            $last === null ? [] : [[[], (float) $last->duration_seconds]],
        );
        $text->gauge(
            'app_account_analysis_run_last_events',
            'Events aggregated by the most recent completed account-analysis run.',
            $last === null ? [] : [[[], (int) $last->events_total]],
        );
        $inProgress = (int) $this->db->selectOne('SELECT count(*) AS n FROM analysis_runs WHERE finished_at IS NULL')->n;
        $text->gauge('app_account_analysis_runs_in_progress', 'Account-analysis runs started but not finished.', [[[], $inProgress]]);
    }
}
