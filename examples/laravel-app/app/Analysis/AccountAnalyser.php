<?php

namespace App\Analysis;

use App\Metrics\HistogramStore;
use App\Models\AccountAnalysis;
use Illuminate\Database\ConnectionInterface;
use PDO;

/**
 * Analyses one organisation: streams its events in keyset chunks through an
 * EventAccumulator, then stores the result, the duration histogram and the
 * progress of the run in a single transaction.
 */
final class AccountAnalyser
{
    public const DURATION_METRIC = 'account_analysis_duration_seconds';

    public const RUN_DURATION_METRIC = 'account_analysis_run_duration_seconds';

    public function __construct(
        private ConnectionInterface $db,
        private HistogramStore $histograms,
        private int $chunkSize,
        private int $activeDays,
    ) {
    }

    public function analyse(int $organisationId, ?int $runId = null): AccountAnalysis
    {
        $started = hrtime(true);
        $baselineMemory = memory_get_usage();
        memory_reset_peak_usage();

        $accumulator = new EventAccumulator(time(), $this->activeDays);
        $chunks = $this->stream($organisationId, $accumulator);

        $result = $accumulator->result();
        $duration = (hrtime(true) - $started) / 1e9;
        $peakMemory = max(0, memory_get_peak_usage() - $baselineMemory);

        return $this->db->transaction(function () use ($organisationId, $runId, $result, $chunks, $peakMemory, $duration) {
            $analysis = AccountAnalysis::create([
                'organisation_id' => $organisationId,
                'analysis_run_id' => $runId,
                'events_count' => $result['events_count'],
                'users_seen' => $result['users_seen'],
                'active_users' => $result['active_users'],
                'events_by_type' => $result['events_by_type'],
                'revenue_cents' => $result['revenue_cents'],
                'first_event_at' => $result['first_event_at'] === null ? null : gmdate('c', $result['first_event_at']),
                'last_event_at' => $result['last_event_at'] === null ? null : gmdate('c', $result['last_event_at']),
                'busiest_day' => $result['busiest_day'],
                'busiest_day_events' => $result['busiest_day_events'],
                'chunks' => $chunks,
                'peak_memory_bytes' => $peakMemory,
                'duration_seconds' => $duration,
            ]);
            $this->histograms->observe(self::DURATION_METRIC, $duration, config('analysis.duration_buckets'));
            if ($runId !== null) {
                $this->recordProgress($runId, $result['events_count'], failed: false);
            }

            return $analysis;
        });
    }

    /**
     * Counts one organisation of a run as done (or failed); the last one closes
     * the run and records its wall-clock duration.
     */
    public function recordProgress(int $runId, int $events, bool $failed): void
    {
        $column = $failed ? 'organisations_failed' : 'organisations_done';
        $finished = $this->db->selectOne(
            "UPDATE analysis_runs
                SET {$column} = {$column} + 1,
                    events_total = events_total + ?,
                    finished_at = CASE WHEN organisations_done + organisations_failed + 1 >= organisations_total
                                       THEN clock_timestamp() ELSE finished_at END,
                    duration_seconds = CASE WHEN organisations_done + organisations_failed + 1 >= organisations_total
                                       THEN extract(epoch FROM clock_timestamp() - started_at) ELSE duration_seconds END
              WHERE id = ? AND finished_at IS NULL
          RETURNING finished_at, duration_seconds",
            [$events, $runId]
        );
        if ($finished !== null && $finished->finished_at !== null) {
            $this->histograms->observe(self::RUN_DURATION_METRIC, (float) $finished->duration_seconds, config('analysis.run_duration_buckets'));
        }
    }

    /**
     * Reads the organisation's events up to the newest one present at the start,
     * $chunkSize rows per query in id order, and returns the number of chunks.
     */
    private function stream(int $organisationId, EventAccumulator $accumulator): int
    {
        $pdo = $this->db->getPdo();
        $upper = $pdo->prepare('SELECT coalesce(max(id), 0) FROM events WHERE organisation_id = ?');
        $upper->execute([$organisationId]);
        $newest = (int) $upper->fetchColumn();

        $select = $pdo->prepare(
            'SELECT id, user_id, type, amount_cents, extract(epoch FROM occurred_at)::bigint
               FROM events
              WHERE organisation_id = ? AND id > ? AND id <= ?
              ORDER BY id
              LIMIT ?'
        );
        $after = 0;
        $chunks = 0;
        while ($after < $newest) {
            $select->execute([$organisationId, $after, $newest, $this->chunkSize]);
            $rows = $select->fetchAll(PDO::FETCH_NUM);
            if ($rows === []) {
                break;
            }
            $chunks++;
            foreach ($rows as [$id, $userId, $type, $amount, $occurredAt]) {
                $accumulator->add($userId === null ? null : (int) $userId, $type, (int) $amount, (int) $occurredAt);
            }
            $after = (int) $rows[array_key_last($rows)][0];
            unset($rows);
        }

        return $chunks;
    }
}
