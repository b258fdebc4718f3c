<?php

namespace App\Metrics;

use InvalidArgumentException;

/**
 * Builds a Prometheus text exposition (format version 0.0.4).
 *
 * Each metric family gets its HELP and TYPE lines once, followed by its samples;
 * label values and help texts are escaped as the format requires, and histogram
 * buckets are checked to be cumulative before they are written.
 *
 * @example
 *   $text = new PrometheusText();
 *   $text->gauge('app_users', 'Users in the database.', [[[], 42]]);
 *   echo $text->render();
 */
final class PrometheusText
{
    public const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

    private const NAME = '/^[a-zA-Z_:][a-zA-Z0-9_:]*$/';

    private const LABEL = '/^[a-zA-Z_][a-zA-Z0-9_]*$/';

    /** @var array<string, true> */
    private array $names = [];

    /** @var list<string> */
    private array $lines = [];

    /**
     * @param  list<array{0: array<string, string>, 1: int|float}>  $samples  label set and value
     */
    public function gauge(string $name, string $help, array $samples): self
    {
        return $this->simple('gauge', $name, $help, $samples);
    }

    /**
     * @param  list<array{0: array<string, string>, 1: int|float}>  $samples  label set and value
     */
    public function counter(string $name, string $help, array $samples): self
    {
        if (! str_ends_with($name, '_total')) {
            throw new InvalidArgumentException("Cannot add counter \"{$name}\": counter names end with \"_total\"");
        }
        foreach ($samples as [, $value]) {
            if ($value < 0) {
                throw new InvalidArgumentException("Cannot add counter \"{$name}\": value {$value} is negative");
            }
        }

        return $this->simple('counter', $name, $help, $samples);
    }

    /**
     * @param  array<string, int>  $cumulativeBuckets  upper bound (as a string, e.g. "0.5") => observations <= bound
     * @param  array<string, string>  $labels
     */
    public function histogram(string $name, string $help, array $cumulativeBuckets, float $sum, int $count, array $labels = []): self
    {
        $this->header('histogram', $name, $help);
        $bounds = array_map('floatval', array_keys($cumulativeBuckets));
        $sorted = $bounds;
        sort($sorted);
        if ($bounds !== $sorted) {
            throw new InvalidArgumentException("Cannot add histogram \"{$name}\": bucket bounds must be in increasing order");
        }
        $previous = 0;
        foreach ($cumulativeBuckets as $bound => $observations) {
            if ($observations < $previous || $observations > $count) {
                throw new InvalidArgumentException(
                    "Cannot add histogram \"{$name}\": bucket le=\"{$bound}\" holds {$observations} observations, "
                    ."but buckets must be cumulative (at least {$previous}) and at most the count ({$count})"
                );
            }
            $previous = $observations;
            $this->sample($name.'_bucket', $labels + ['le' => self::formatValue((float) $bound)], $observations);
        }
        $this->sample($name.'_bucket', $labels + ['le' => '+Inf'], $count);
        $this->sample($name.'_sum', $labels, $sum);
        $this->sample($name.'_count', $labels, $count);

        return $this;
    }

    public function render(): string
    {
        return $this->lines === [] ? '' : implode("\n", $this->lines)."\n";
    }

    /** Formats a sample value the way Prometheus parses it (Go's ParseFloat). */
    public static function formatValue(int|float $value): string
    {
        if (is_int($value)) {
            return (string) $value;
        }
        if (is_nan($value)) {
            return 'NaN';
        }
        if (is_infinite($value)) {
            return $value > 0 ? '+Inf' : '-Inf';
        }

        return var_export($value, true);
    }

    /** Escapes a label value: backslash, double quote and line feed. */
    public static function escapeLabelValue(string $value): string
    {
        return str_replace(['\\', '"', "\n"], ['\\\\', '\\"', '\\n'], $value);
    }

    /** Escapes a HELP text: backslash and line feed. */
    public static function escapeHelp(string $value): string
    {
        return str_replace(['\\', "\n"], ['\\\\', '\\n'], $value);
    }

    /**
     * @param  list<array{0: array<string, string>, 1: int|float}>  $samples
     */
    private function simple(string $type, string $name, string $help, array $samples): self
    {
        $this->header($type, $name, $help);
        foreach ($samples as [$labels, $value]) {
            $this->sample($name, $labels, $value);
        }

        return $this;
    }

    private function header(string $type, string $name, string $help): void
    {
        if (preg_match(self::NAME, $name) !== 1) {
            throw new InvalidArgumentException("Cannot add metric \"{$name}\": names match [a-zA-Z_:][a-zA-Z0-9_:]*");
        }
        if (isset($this->names[$name])) {
            throw new InvalidArgumentException("Cannot add metric \"{$name}\": it was already added");
        }
        $this->names[$name] = true;
        $this->lines[] = '# HELP '.$name.' '.self::escapeHelp($help);
        $this->lines[] = '# TYPE '.$name.' '.$type;
    }

    /**
     * @param  array<string, string>  $labels
     */
    private function sample(string $name, array $labels, int|float $value): void
    {
        $pairs = [];
        foreach ($labels as $label => $labelValue) {
            if (preg_match(self::LABEL, (string) $label) !== 1 || str_starts_with((string) $label, '__')) {
                throw new InvalidArgumentException("Cannot add metric \"{$name}\": label name \"{$label}\" is not allowed");
            }
            $pairs[] = $label.'="'.self::escapeLabelValue((string) $labelValue).'"';
        }
        $this->lines[] = $name.($pairs === [] ? '' : '{'.implode(',', $pairs).'}').' '.self::formatValue($value);
    }
}
