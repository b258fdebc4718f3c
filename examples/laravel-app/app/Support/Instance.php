<?php

namespace App\Support;

/**
 * The name of this running instance (APP_INSTANCE), read from the process
 * environment on every call rather than from the cached configuration:
 * instances of one release share `config:cache` but not their names.
 */
final class Instance
{
    public static function name(): ?string
    {
        $name = getenv('APP_INSTANCE');
        if ($name === false) {
            $name = $_SERVER['APP_INSTANCE'] ?? $_ENV['APP_INSTANCE'] ?? null;
        }
        if (! is_string($name)) {
            return null;
        }
        $name = trim($name);

        // Header-safe or nothing.
        return $name !== '' && strlen($name) <= 128 && preg_match('/^[0-9A-Za-z._:@-]+$/', $name) === 1 ? $name : null;
    }
}
