<?php

return [

    'default' => env('QUEUE_CONNECTION', 'database'),

    'connections' => [

        'sync' => [
            'driver' => 'sync',
        ],

        // Laravel's database driver on PostgreSQL: workers reserve jobs with
        // SELECT ... FOR UPDATE SKIP LOCKED, so many workers share one table.
        'database' => [
            'driver' => 'database',
            'table' => 'jobs',
            'queue' => 'default',
            // Must stay above the longest job timeout (account analysis: ANALYSIS_TIMEOUT),
            // otherwise a second worker would pick up a job that is still running.
            'retry_after' => (int) env('QUEUE_RETRY_AFTER', 660),
            'after_commit' => true,
        ],

    ],

    // Queues the workers listen on, in priority order; /metrics reports each one.
    'queues' => ['default', 'analysis'],

    'failed' => [
        'driver' => 'database-uuids',
        'database' => env('DB_CONNECTION', 'pgsql'),
        'table' => 'failed_jobs',
    ],

];
