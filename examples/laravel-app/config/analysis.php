<?php

return [

    // When the scheduler starts an account-analysis run (cron syntax, UTC).
    'schedule' => env('ANALYSIS_SCHEDULE', '* * * * *'),

    // Queue the per-organisation analysis jobs go to.
    'queue' => env('ANALYSIS_QUEUE', 'analysis'),

    // Events read per query while aggregating; bounds the worker's memory.
    'chunk_size' => (int) env('ANALYSIS_CHUNK_SIZE', 5000),

    // Seconds one organisation's analysis may take before the worker kills it.
    'timeout' => (int) env('ANALYSIS_TIMEOUT', 600),

    // Window for "active users".
    'active_days' => (int) env('ANALYSIS_ACTIVE_DAYS', 30),

    // A run still unfinished after this many seconds no longer blocks a new one.
    'stale_after' => (int) env('ANALYSIS_STALE_AFTER', 3600),

    // Analysis results older than this many days are pruned daily.
    'retention_days' => (int) env('ANALYSIS_RETENTION_DAYS', 30),

    // Upper bounds (seconds) of the histogram of one organisation's analysis time.
    'duration_buckets' => [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],

    // Upper bounds (seconds) of the histogram of a whole run's wall-clock time
    // (from the scheduler's dispatch until the last organisation is done).
    'run_duration_buckets' => [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],

];
