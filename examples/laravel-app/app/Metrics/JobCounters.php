<?php

namespace App\Metrics;

use Illuminate\Database\ConnectionInterface;

/**
 * Monotonic per-job counters (processed, failed) shared by all workers.
 */
final class JobCounters
{
    public function __construct(private ConnectionInterface $db)
    {
    }

    public function increment(string $jobClass, string $status): void
    {
        $this->db->statement(
            'INSERT INTO queue_job_counters (job, status, count) VALUES (?, ?, 1)
             ON CONFLICT (job, status) DO UPDATE SET count = queue_job_counters.count + 1',
            [self::shortName($jobClass), $status]
        );
    }

    /**
     * @return list<array{job: string, status: string, count: int}>
     */
    public function all(): array
    {
        return array_map(
            fn ($row) => ['job' => $row->job, 'status' => $row->status, 'count' => (int) $row->count],
            $this->db->select('SELECT job, status, count FROM queue_job_counters ORDER BY job, status')
        );
    }

    /** "App\Jobs\AnalyseAccount" becomes "AnalyseAccount". */
    public static function shortName(string $jobClass): string
    {
        $position = strrpos($jobClass, '\\');

        return substr($position === false ? $jobClass : substr($jobClass, $position + 1), 0, 100);
    }
}
