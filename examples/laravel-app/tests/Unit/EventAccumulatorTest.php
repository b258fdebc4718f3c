<?php

namespace Tests\Unit;

use App\Analysis\EventAccumulator;
use InvalidArgumentException;
use PHPUnit\Framework\TestCase;

final class EventAccumulatorTest extends TestCase
{
    private const NOW = 1_700_000_000; // 2023-11-14T22:13:20Z

    private const DAY = 86400;

    public function testAggregatesCountsRevenueUsersAndTimeRange(): void
    {
        $accumulator = new EventAccumulator(self::NOW, 30);
        $accumulator->add(1, 'purchase', 1500, self::NOW - 1 * self::DAY);
        $accumulator->add(2, 'purchase', 500, self::NOW - 2 * self::DAY);
        $accumulator->add(2, 'refund', 300, self::NOW - 2 * self::DAY);
        $accumulator->add(3, 'login', 0, self::NOW - 40 * self::DAY);
        $accumulator->add(null, 'page_view', 0, self::NOW - 3 * self::DAY);

        $result = $accumulator->result();

        $this->assertSame(5, $result['events_count']);
        $this->assertSame(['login' => 1, 'page_view' => 1, 'purchase' => 2, 'refund' => 1], $result['events_by_type']);
        $this->assertSame(1500 + 500 - 300, $result['revenue_cents']);
        $this->assertSame(3, $result['users_seen']);
        $this->assertSame(2, $result['active_users'], 'user 3 was last seen 40 days ago, outside the 30-day window');
        $this->assertSame(self::NOW - 40 * self::DAY, $result['first_event_at']);
        $this->assertSame(self::NOW - 1 * self::DAY, $result['last_event_at']);
    }

    public function testFindsTheBusiestDayAndBreaksTiesTowardsTheEarliest(): void
    {
        $accumulator = new EventAccumulator(self::NOW, 30);
        $day = fn (string $date, int $hour = 12) => strtotime("{$date}T{$hour}:00:00Z");
        // Two days with two events each, added latest first: the earlier day wins.
        $accumulator->add(1, 'login', 0, $day('2023-11-10'));
        $accumulator->add(1, 'login', 0, $day('2023-11-10', 23));
        $accumulator->add(1, 'login', 0, $day('2023-11-08', 0));
        $accumulator->add(1, 'login', 0, $day('2023-11-08', 1));
        $accumulator->add(1, 'login', 0, $day('2023-11-09'));

        $result = $accumulator->result();

        $this->assertSame('2023-11-08', $result['busiest_day']);
        $this->assertSame(2, $result['busiest_day_events']);
    }

    public function testReportsAnEmptyOrganisation(): void
    {
        $result = (new EventAccumulator(self::NOW, 30))->result();

        $this->assertSame(0, $result['events_count']);
        $this->assertSame([], $result['events_by_type']);
        $this->assertNull($result['busiest_day']);
        $this->assertNull($result['first_event_at']);
        $this->assertSame(0, $result['active_users']);
    }

    public function testGivesTheSameResultWhateverTheChunking(): void
    {
        mt_srand(7);
        $events = [];
        for ($i = 0; $i < 2000; $i++) {
            $events[] = [mt_rand(0, 20) ?: null, ['login', 'purchase', 'refund', 'page_view'][mt_rand(0, 3)], mt_rand(0, 9999), self::NOW - mt_rand(0, 90 * self::DAY)];
        }
        $whole = new EventAccumulator(self::NOW, 30);
        foreach ($events as $event) {
            $whole->add(...$event);
        }
        $chunked = new EventAccumulator(self::NOW, 30);
        foreach (array_chunk($events, 7) as $chunk) {
            foreach ($chunk as $event) {
                $chunked->add(...$event);
            }
        }

        $this->assertSame($whole->result(), $chunked->result());
    }

    public function testRejectsAnEmptyActiveWindow(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('the active window is 0 days but must be at least 1');

        new EventAccumulator(self::NOW, 0);
    }
}
