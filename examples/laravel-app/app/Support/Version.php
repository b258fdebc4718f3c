<?php

namespace App\Support;

/**
 * Works out which version of the application is deployed.
 */
final class Version
{
    public const UNKNOWN = '0.0.0-dev';

    /**
     * The explicit version when given, else the first line of the VERSION file, else UNKNOWN.
     *
     * Only printable, header-safe characters survive, so the value can go into a
     * response header as is.
     */
    public static function resolve(?string $explicit, string $versionFile): string
    {
        $candidate = self::clean($explicit);
        if ($candidate === null && is_file($versionFile) && is_readable($versionFile)) {
            $lines = file($versionFile, FILE_IGNORE_NEW_LINES);
            $candidate = self::clean($lines === false ? null : ($lines[0] ?? null));
        }

        return $candidate ?? self::UNKNOWN;
    }

    private static function clean(?string $value): ?string
    {
        if ($value === null) {
            return null;
        }
        $value = trim($value);
        if ($value === '' || strlen($value) > 128 || preg_match('/^[0-9A-Za-z][0-9A-Za-z.+~:_-]*$/', $value) !== 1) {
            return null;
        }

        return $value;
    }
}
