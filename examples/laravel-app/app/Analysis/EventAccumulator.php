<?php

namespace App\Analysis;

use InvalidArgumentException;

/**
 * Folds an organisation's events, one at a time, into the figures of an account
 * analysis. Its memory grows with the number of distinct users and days seen,
 * never with the number of events, so callers can stream events through it in
 * chunks of any size.
 */
final class EventAccumulator
{
    private int $events = 0;

    /** @var array<string, int> */
    private array $byType = [];

    private int $revenueCents = 0;

    /** @var array<int, true> */
    private array $usersSeen = [];

    /** @var array<int, true> */
    private array $activeUsers = [];

    /** @var array<int, int> day number (days since 1970-01-01 UTC) => events */
    private array $perDay = [];

    private ?int $first = null;

    private ?int $last = null;

    private readonly int $activeSince;

    /**
     * @param  int  $now  Unix time the analysis is made at
     * @param  int  $activeDays  a user is active when they have an event in this many days before $now
     */
    public function __construct(int $now, int $activeDays)
    {
        if ($activeDays < 1) {
            throw new InvalidArgumentException("Cannot analyse events: the active window is {$activeDays} days but must be at least 1");
        }
        $this->activeSince = $now - $activeDays * 86400;
    }

    /**
     * @param  int  $occurredAt  Unix time of the event
     */
    public function add(?int $userId, string $type, int $amountCents, int $occurredAt): void
    {
        $this->events++;
        $this->byType[$type] = ($this->byType[$type] ?? 0) + 1;

        if ($type === 'purchase') {
            $this->revenueCents += $amountCents;
        } elseif ($type === 'refund') {
            $this->revenueCents -= $amountCents;
        }

        if ($userId !== null) {
            $this->usersSeen[$userId] = true;
            if ($occurredAt >= $this->activeSince) {
                $this->activeUsers[$userId] = true;
            }
        }

        $day = intdiv($occurredAt, 86400) - ($occurredAt < 0 && $occurredAt % 86400 !== 0 ? 1 : 0);
        $this->perDay[$day] = ($this->perDay[$day] ?? 0) + 1;

        if ($this->first === null || $occurredAt < $this->first) {
            $this->first = $occurredAt;
        }
        if ($this->last === null || $occurredAt > $this->last) {
            $this->last = $occurredAt;
        }
    }

    public function events(): int
    {
        return $this->events;
    }

    /**
     * @return array{events_count: int, events_by_type: array<string, int>, revenue_cents: int, users_seen: int,
     *     active_users: int, first_event_at: int|null, last_event_at: int|null, busiest_day: string|null,
     *     busiest_day_events: int}
     */
    public function result(): array
    {
        ksort($this->byType);
        $busiestDay = null;
        $busiestCount = 0;
        foreach ($this->perDay as $day => $count) {
            // Ties go to the earliest day, so the result does not depend on event order.
            if ($count > $busiestCount || ($count === $busiestCount && $busiestDay !== null && $day < $busiestDay)) {
                $busiestDay = $day;
                $busiestCount = $count;
            }
        }

        return [
            'events_count' => $this->events,
            'events_by_type' => $this->byType,
            'revenue_cents' => $this->revenueCents,
            'users_seen' => count($this->usersSeen),
            'active_users' => count($this->activeUsers),
            'first_event_at' => $this->first,
            'last_event_at' => $this->last,
            'busiest_day' => $busiestDay === null ? null : gmdate('Y-m-d', $busiestDay * 86400),
            'busiest_day_events' => $busiestCount,
        ];
    }
}
