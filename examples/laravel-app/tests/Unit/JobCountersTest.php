<?php

namespace Tests\Unit;

use App\Metrics\JobCounters;
use PHPUnit\Framework\TestCase;

final class JobCountersTest extends TestCase
{
    public function testNamesJobsByTheirClassBasename(): void
    {
        $this->assertSame('AnalyseAccount', JobCounters::shortName('App\\Jobs\\AnalyseAccount'));
        $this->assertSame('Closure', JobCounters::shortName('Closure'));
    }
}
