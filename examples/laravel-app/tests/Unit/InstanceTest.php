<?php

namespace Tests\Unit;

use App\Support\Instance;
use PHPUnit\Framework\TestCase;

final class InstanceTest extends TestCase
{
    protected function tearDown(): void
    {
        putenv('APP_INSTANCE');
    }

    public function testReadsTheNameFromTheProcessEnvironment(): void
    {
        putenv('APP_INSTANCE=web-2');

        $this->assertSame('web-2', Instance::name());
    }

    public function testIgnoresNamesThatCannotGoIntoAHeader(): void
    {
        putenv("APP_INSTANCE=web 1\r\nX-Evil: yes");
        $this->assertNull(Instance::name());

        putenv('APP_INSTANCE');
        $this->assertNull(Instance::name());
    }
}
