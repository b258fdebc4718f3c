<?php

namespace App\Support;

use App\Exceptions\InvalidInput;

/**
 * How much data the seeder creates.
 *
 * SEED_SCALE multiplies the full size (1,000 organisations, 50,000 users,
 * 2,000,000 events): 1 is the full size, 0.01 a small set for tests.
 * SEED_ORGANISATIONS, SEED_USERS and SEED_EVENTS set one figure exactly.
 */
final class SeedScale
{
    public const FULL_ORGANISATIONS = 1000;

    public const FULL_USERS = 50000;

    public const FULL_EVENTS = 2000000;

    private function __construct(
        public readonly int $organisations,
        public readonly int $usersPerOrganisation,
        public readonly int $events,
    ) {
    }

    /**
     * @param  array<string, string|false|null>  $environment
     *
     * @throws InvalidInput when a value is not a number in range; the message names the variable
     */
    public static function fromEnvironment(array $environment): self
    {
        $scale = self::number($environment, 'SEED_SCALE', 1.0, 0.0001, 100.0);

        $organisations = (int) self::number($environment, 'SEED_ORGANISATIONS', max(1, round(self::FULL_ORGANISATIONS * $scale)), 1, 1_000_000, true);
        $users = (int) self::number($environment, 'SEED_USERS', max(1, round(self::FULL_USERS * $scale)), 1, 100_000_000, true);
        $events = (int) self::number($environment, 'SEED_EVENTS', round(self::FULL_EVENTS * $scale), 0, 1_000_000_000, true);

        if ($users < $organisations) {
            throw new InvalidInput(
                "Cannot seed: {$users} users for {$organisations} organisations, but every organisation needs at least one user; raise SEED_USERS or lower SEED_ORGANISATIONS"
            );
        }

        return new self($organisations, intdiv($users, $organisations), $events);
    }

    public function users(): int
    {
        return $this->organisations * $this->usersPerOrganisation;
    }

    /**
     * @param  array<string, string|false|null>  $environment
     */
    private static function number(array $environment, string $name, float $default, float $min, float $max, bool $integer = false): float
    {
        $raw = $environment[$name] ?? null;
        if ($raw === null || $raw === false || trim($raw) === '') {
            return $default;
        }
        $raw = trim($raw);
        $pattern = $integer ? '/^\d+$/' : '/^\d+(\.\d+)?$/';
        if (preg_match($pattern, $raw) !== 1 || (float) $raw < $min || (float) $raw > $max) {
            $kind = $integer ? 'a whole number' : 'a number';
            throw new InvalidInput("Cannot seed: {$name} is \"{$raw}\" but must be {$kind} from {$min} to {$max}");
        }

        return (float) $raw;
    }
}
