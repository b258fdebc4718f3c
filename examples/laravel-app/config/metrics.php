<?php

return [

    // When set, GET /metrics requires "Authorization: Bearer <token>".
    'token' => env('METRICS_TOKEN'),

];
