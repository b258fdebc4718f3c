<?php

/*
 * Serves the built admin UI's files under /build/ without booting Laravel.
 * HAProxy routes /build/ here and caches the answers; file names carry a
 * content hash, so they can be cached for a year.
 */

$types = [
    'js' => 'text/javascript; charset=utf-8',
    'css' => 'text/css; charset=utf-8',
    'html' => 'text/html; charset=utf-8',
    'json' => 'application/json',
    'map' => 'application/json',
    'svg' => 'image/svg+xml',
    'png' => 'image/png',
    'ico' => 'image/x-icon',
];

$path = parse_url($_SERVER['REQUEST_URI'] ?? '', PHP_URL_PATH);
$method = $_SERVER['REQUEST_METHOD'] ?? 'GET';

if (! is_string($path) || preg_match('#^/build/([A-Za-z0-9][A-Za-z0-9._-]*)$#', $path, $match) !== 1) {
    http_response_code(404);
    header('Content-Type: text/plain; charset=utf-8');
    echo "Not found\n";

    return;
}

$file = __DIR__.'/build/'.$match[1];
$extension = strtolower(pathinfo($file, PATHINFO_EXTENSION));
if (! isset($types[$extension]) || ! is_file($file)) {
    http_response_code(404);
    header('Content-Type: text/plain; charset=utf-8');
    echo "Not found\n";

    return;
}

if ($method !== 'GET' && $method !== 'HEAD') {
    http_response_code(405);
    header('Allow: GET, HEAD');

    return;
}

$etag = '"'.hash_file('sha256', $file).'"';
$hashed = preg_match('/\.[0-9a-f]{8,}\.[a-z]+$/', $match[1]) === 1;
header('Content-Type: '.$types[$extension]);
header('ETag: '.$etag);
header('Cache-Control: '.($hashed ? 'public, max-age=31536000, immutable' : 'no-cache'));
header('X-Content-Type-Options: nosniff');

if (($_SERVER['HTTP_IF_NONE_MATCH'] ?? '') === $etag) {
    http_response_code(304);

    return;
}

header('Content-Length: '.filesize($file));
if ($method === 'GET') {
    readfile($file);
}
