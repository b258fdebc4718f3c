<?php

namespace Tests\Regression;

/**
 * /metrics must be valid Prometheus text exposition.
 */
final class MetricsTest extends HttpTestCase
{
    public function testExposesValidPrometheusText(): void
    {
        $token = getenv('METRICS_TOKEN');
        $response = $this->request('GET', '/metrics', null, $token ? ['Authorization' => "Bearer {$token}"] : []);

        $this->assertSame(200, $response['status'], $response['body']);
        $this->assertSame('text/plain; version=0.0.4; charset=utf-8', $response['headers']['content-type']);
        $families = $this->parse($response['body']);

        foreach (['app_organisations' => 'gauge', 'app_users' => 'gauge', 'app_queue_depth' => 'gauge', 'app_jobs_processed_total' => 'counter',
            'app_jobs_failed_total' => 'counter', 'app_account_analysis_duration_seconds' => 'histogram',
            'app_account_analysis_run_duration_seconds' => 'histogram', 'app_account_analysis_run_last_duration_seconds' => 'gauge'] as $name => $type) {
            $this->assertArrayHasKey($name, $families, "{$name} is missing");
            $this->assertSame($type, $families[$name]['type'], "{$name} has the wrong type");
        }
        $this->assertGreaterThan(0, $families['app_organisations']['samples'][0]['value']);
        $this->assertSame(['analysis', 'default'], $this->sorted(array_map(fn ($s) => $s['labels']['queue'], $families['app_queue_depth']['samples'])));

        foreach ($families as $name => $family) {
            if ($family['type'] === 'histogram') {
                $this->assertValidHistogram($name, $family['samples']);
            }
        }
    }

    /**
     * @return array<string, array{type: string, help: string, samples: list<array{name: string, labels: array<string, string>, value: float}>}>
     */
    private function parse(string $text): array
    {
        $this->assertStringEndsWith("\n", $text);
        $families = [];
        $current = null;
        foreach (explode("\n", rtrim($text, "\n")) as $number => $line) {
            $where = 'line '.($number + 1).": {$line}";
            if (preg_match('/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/', $line, $m) === 1) {
                $this->assertArrayNotHasKey($m[1], $families, "HELP repeated, {$where}");
                $families[$m[1]] = ['help' => $m[2], 'type' => '', 'samples' => []];
                $current = $m[1];

                continue;
            }
            if (preg_match('/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/', $line, $m) === 1) {
                $this->assertSame($current, $m[1], "TYPE does not follow its HELP, {$where}");
                $families[$m[1]]['type'] = $m[2];

                continue;
            }
            $this->assertSame(1, preg_match('/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/', $line, $m), "not a sample, {$where}");
            $this->assertNotNull($current, "sample before any HELP, {$where}");
            $this->assertTrue(
                $m[1] === $current || in_array(substr($m[1], strlen($current)), ['_bucket', '_sum', '_count'], true) && str_starts_with($m[1], $current),
                "sample {$m[1]} outside its family {$current}"
            );
            $labels = [];
            if (($m[3] ?? '') !== '') {
                $this->assertSame(1, preg_match('/^([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\n]|\\\\[\\\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\n]|\\\\[\\\\"n])*")*$/', $m[3]), "bad labels, {$where}");
                preg_match_all('/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\]|\\\\.)*)"/', $m[3], $pairs, PREG_SET_ORDER);
                foreach ($pairs as $pair) {
                    $labels[$pair[1]] = stripcslashes($pair[2]);
                }
            }
            $this->assertTrue(is_numeric($m[4]) || in_array($m[4], ['+Inf', '-Inf', 'NaN'], true), "bad value, {$where}");
            $families[$current]['samples'][] = ['name' => $m[1], 'labels' => $labels, 'value' => $m[4] === '+Inf' ? INF : (float) $m[4]];
        }
        foreach ($families as $name => $family) {
            $this->assertNotSame('', $family['type'], "{$name} has no TYPE line");
        }

        return $families;
    }

    /**
     * @param  list<array{name: string, labels: array<string, string>, value: float}>  $samples
     */
    private function assertValidHistogram(string $name, array $samples): void
    {
        $buckets = array_values(array_filter($samples, fn ($s) => $s['name'] === "{$name}_bucket"));
        $count = array_values(array_filter($samples, fn ($s) => $s['name'] === "{$name}_count"));
        $sum = array_values(array_filter($samples, fn ($s) => $s['name'] === "{$name}_sum"));
        $this->assertCount(1, $count, "{$name}_count");
        $this->assertCount(1, $sum, "{$name}_sum");
        $this->assertNotEmpty($buckets);
        $this->assertSame('+Inf', end($buckets)['labels']['le'], "{$name}: the last bucket is le=\"+Inf\"");
        $this->assertSame($count[0]['value'], end($buckets)['value'], "{$name}: the +Inf bucket equals the count");
        $previousBound = -INF;
        $previousValue = 0.0;
        foreach ($buckets as $bucket) {
            $bound = $bucket['labels']['le'] === '+Inf' ? INF : (float) $bucket['labels']['le'];
            $this->assertGreaterThan($previousBound, $bound, "{$name}: bucket bounds increase");
            $this->assertGreaterThanOrEqual($previousValue, $bucket['value'], "{$name}: buckets are cumulative");
            [$previousBound, $previousValue] = [$bound, $bucket['value']];
        }
    }

    /**
     * @param  list<string>  $values
     * @return list<string>
     */
    private function sorted(array $values): array
    {
        sort($values);

        return $values;
    }
}
