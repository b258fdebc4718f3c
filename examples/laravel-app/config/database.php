<?php

return [

    'default' => env('DB_CONNECTION', 'pgsql'),

    'connections' => [

        'pgsql' => [
            'driver' => 'pgsql',
            'url' => env('DATABASE_URL'),
            'host' => env('DB_HOST', '127.0.0.1'),
            'port' => env('DB_PORT', '5432'),
            'database' => env('DB_DATABASE', 'laravel_app'),
            'username' => env('DB_USERNAME', 'laravel_app'),
            'password' => env('DB_PASSWORD', ''),
            'charset' => 'utf8',
            'prefix' => '',
            'prefix_indexes' => true,
            'schema' => env('DB_SCHEMA', 'public'),
            'sslmode' => env('DB_SSLMODE', 'prefer'),
            // One connection per php-fpm worker, reused across requests: a new PostgreSQL
            // connection (with SCRAM authentication) costs more than most requests. PDO rolls
            // back a transaction a request leaves open, and reconnects when the server went away.
            'options' => [
                PDO::ATTR_PERSISTENT => (bool) env('DB_PERSISTENT', true),
            ],
        ],

    ],

    'migrations' => 'migrations',

];
