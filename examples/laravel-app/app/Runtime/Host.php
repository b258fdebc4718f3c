<?php

namespace App\Runtime;

/**
 * What the web process needs to know about the machine it runs on; a seam for tests.
 */
class Host
{
    public function isRoot(): bool
    {
        return posix_geteuid() === 0;
    }

    public function cpuCount(): int
    {
        $online = @file_get_contents('/sys/devices/system/cpu/online');
        if (is_string($online) && preg_match_all('/(\d+)(?:-(\d+))?/', trim($online), $ranges, PREG_SET_ORDER) > 0) {
            $count = 0;
            foreach ($ranges as $range) {
                $count += isset($range[2]) ? (int) $range[2] - (int) $range[1] + 1 : 1;
            }

            return max(1, $count);
        }

        return 1;
    }

    /**
     * @param  list<string>  $names
     */
    public function findExecutable(array $names): ?string
    {
        $directories = array_merge(explode(':', (string) getenv('PATH')), ['/usr/sbin', '/usr/local/sbin', '/sbin']);
        foreach ($names as $name) {
            foreach ($directories as $directory) {
                if ($directory !== '' && is_file("{$directory}/{$name}") && is_executable("{$directory}/{$name}")) {
                    return "{$directory}/{$name}";
                }
            }
        }

        return null;
    }

    public function ownerOf(string $path): ?string
    {
        $uid = @fileowner($path);
        if ($uid === false) {
            return null;
        }
        $entry = posix_getpwuid($uid);

        return $entry === false ? null : $entry['name'];
    }

    public function primaryGroupOf(string $user): ?string
    {
        $entry = posix_getpwnam($user);
        if ($entry === false) {
            return null;
        }
        $group = posix_getgrgid($entry['gid']);

        return $group === false ? null : $group['name'];
    }
}
