<?php

return [

    // The database store gives every host the same cache and atomic locks, which
    // the scheduler's withoutOverlapping()/onOneServer() and queue:restart rely on.
    'default' => env('CACHE_DRIVER', 'database'),

    'stores' => [

        'array' => [
            'driver' => 'array',
            'serialize' => false,
        ],

        'database' => [
            'driver' => 'database',
            'table' => 'cache',
            'connection' => null,
            'lock_connection' => null,
            'lock_table' => 'cache_locks',
        ],

        'file' => [
            'driver' => 'file',
            'path' => storage_path('framework/cache/data'),
        ],

    ],

    'prefix' => env('CACHE_PREFIX', 'laravel_app_cache'),

];
