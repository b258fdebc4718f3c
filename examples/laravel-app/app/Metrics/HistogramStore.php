<?php

namespace App\Metrics;

use Illuminate\Database\ConnectionInterface;

/**
 * Histograms kept in PostgreSQL, so every worker on every host adds to the same
 * series and any web instance can expose them.
 *
 * Buckets are stored cumulatively (an observation increments every bucket whose
 * upper bound it does not exceed), which is what the exposition format wants.
 */
final class HistogramStore
{
    public function __construct(private ConnectionInterface $db)
    {
    }

    /**
     * Records one observation; call it inside the transaction that stores the
     * observed work so that the two never disagree.
     *
     * @param  list<float|int>  $bounds
     */
    public function observe(string $metric, float $value, array $bounds): void
    {
        $matching = array_values(array_filter(array_map('floatval', $bounds), fn (float $bound) => $value <= $bound));
        if ($matching !== []) {
            $placeholders = implode(',', array_fill(0, count($matching), '(?, ?, 1)'));
            $bindings = [];
            foreach ($matching as $bound) {
                array_push($bindings, $metric, $bound);
            }
            $this->db->statement(
                "INSERT INTO histogram_buckets (metric, le, count) VALUES {$placeholders}
                 ON CONFLICT (metric, le) DO UPDATE SET count = histogram_buckets.count + 1",
                $bindings
            );
        }
        $this->db->statement(
            'INSERT INTO histogram_totals (metric, sum, count, last, updated_at) VALUES (?, ?, 1, ?, now())
             ON CONFLICT (metric) DO UPDATE SET sum = histogram_totals.sum + EXCLUDED.sum,
                 count = histogram_totals.count + 1, last = EXCLUDED.last, updated_at = EXCLUDED.updated_at',
            [$metric, $value, $value]
        );
    }

    /**
     * The cumulative counts for the given bounds, with the sum, count and last value.
     *
     * @param  list<float|int>  $bounds
     * @return array{buckets: array<string, int>, sum: float, count: int, last: float|null}
     */
    public function read(string $metric, array $bounds): array
    {
        // One statement, one snapshot: buckets and totals written by the same
        // transaction are read together, so the buckets never exceed the count.
        $row = $this->db->selectOne(
            'SELECT t.sum, t.count, t.last,
                    (SELECT json_agg(json_build_array(b.le, b.count)) FROM histogram_buckets b WHERE b.metric = t.metric) AS buckets
               FROM histogram_totals t WHERE t.metric = ?',
            [$metric]
        );
        $stored = [];
        foreach (json_decode($row->buckets ?? '[]', true) ?? [] as [$le, $count]) {
            $stored[self::key((float) $le)] = (int) $count;
        }

        $buckets = [];
        $sortedBounds = array_map('floatval', $bounds);
        sort($sortedBounds);
        foreach ($sortedBounds as $bound) {
            $buckets[self::key($bound)] = $stored[self::key($bound)] ?? 0;
        }

        return [
            'buckets' => $buckets,
            'sum' => $row === null ? 0.0 : (float) $row->sum,
            'count' => $row === null ? 0 : (int) $row->count,
            'last' => $row === null ? null : (float) $row->last,
        ];
    }

    private static function key(float $bound): string
    {
        return PrometheusText::formatValue($bound);
    }
}
