<?php

namespace Tests\Unit;

use App\Metrics\PrometheusText;
use InvalidArgumentException;
use PHPUnit\Framework\TestCase;

final class PrometheusTextTest extends TestCase
{
    public function testWritesHelpAndTypeOnceThenEverySample(): void
    {
        $text = (new PrometheusText())
            ->gauge('app_queue_depth', 'Jobs waiting.', [[['queue' => 'default'], 3], [['queue' => 'analysis'], 0]])
            ->counter('app_jobs_processed_total', 'Jobs processed.', [[['job' => 'AnalyseAccount'], 12]]);

        $this->assertSame(
            "# HELP app_queue_depth Jobs waiting.\n"
            ."# TYPE app_queue_depth gauge\n"
            ."app_queue_depth{queue=\"default\"} 3\n"
            ."app_queue_depth{queue=\"analysis\"} 0\n"
            ."# HELP app_jobs_processed_total Jobs processed.\n"
            ."# TYPE app_jobs_processed_total counter\n"
            ."app_jobs_processed_total{job=\"AnalyseAccount\"} 12\n",
            $text->render()
        );
    }

    public function testWritesAHistogramWithCumulativeBucketsAnInfBucketSumAndCount(): void
    {
        $text = (new PrometheusText())->histogram('run_seconds', 'Run time.', ['0.5' => 1, '1.0' => 3, '5.0' => 3], 7.25, 4);

        $this->assertSame(
            "# HELP run_seconds Run time.\n"
            ."# TYPE run_seconds histogram\n"
            ."run_seconds_bucket{le=\"0.5\"} 1\n"
            ."run_seconds_bucket{le=\"1.0\"} 3\n"
            ."run_seconds_bucket{le=\"5.0\"} 3\n"
            ."run_seconds_bucket{le=\"+Inf\"} 4\n"
            ."run_seconds_sum 7.25\n"
            ."run_seconds_count 4\n",
            $text->render()
        );
    }

    public function testEscapesLabelValuesAndHelp(): void
    {
        $text = (new PrometheusText())->gauge('x', "Back\\slash\nnewline", [[['path' => "C:\\dir \"q\"\n"], 1]]);

        $this->assertSame(
            "# HELP x Back\\\\slash\\nnewline\n# TYPE x gauge\nx{path=\"C:\\\\dir \\\"q\\\"\\n\"} 1\n",
            $text->render()
        );
    }

    public function testFormatsSpecialFloats(): void
    {
        $this->assertSame('+Inf', PrometheusText::formatValue(INF));
        $this->assertSame('-Inf', PrometheusText::formatValue(-INF));
        $this->assertSame('NaN', PrometheusText::formatValue(NAN));
        $this->assertSame('0.1', PrometheusText::formatValue(0.1));
        $this->assertSame('2.0', PrometheusText::formatValue(2.0));
        $this->assertSame('42', PrometheusText::formatValue(42));
    }

    public function testRejectsBucketsThatAreNotCumulative(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('Cannot add histogram "h": bucket le="1" holds 2 observations, but buckets must be cumulative (at least 5) and at most the count (9)');

        (new PrometheusText())->histogram('h', 'help', ['0.5' => 5, '1' => 2], 1.0, 9);
    }

    public function testRejectsBucketsAboveTheCount(): void
    {
        $this->expectException(InvalidArgumentException::class);

        (new PrometheusText())->histogram('h', 'help', ['0.5' => 5], 1.0, 4);
    }

    public function testRejectsACounterWithoutTheTotalSuffix(): void
    {
        $this->expectExceptionMessage('Cannot add counter "jobs": counter names end with "_total"');

        (new PrometheusText())->counter('jobs', 'help', []);
    }

    public function testRejectsInvalidNamesAndDuplicates(): void
    {
        try {
            (new PrometheusText())->gauge('2bad', 'help', []);
            $this->fail('A name starting with a digit was accepted');
        } catch (InvalidArgumentException $e) {
            $this->assertStringContainsString('names match', $e->getMessage());
        }

        $this->expectExceptionMessage('Cannot add metric "twice": it was already added');
        (new PrometheusText())->gauge('twice', 'a', [])->gauge('twice', 'b', []);
    }

    public function testRejectsReservedLabelNames(): void
    {
        $this->expectExceptionMessage('label name "__name__" is not allowed');

        (new PrometheusText())->gauge('g', 'help', [[['__name__' => 'x'], 1]]);
    }

    public function testRendersNothingWhenEmpty(): void
    {
        $this->assertSame('', (new PrometheusText())->render());
    }
}
