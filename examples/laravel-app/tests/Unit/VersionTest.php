<?php

namespace Tests\Unit;

use App\Support\Version;
use PHPUnit\Framework\TestCase;

final class VersionTest extends TestCase
{
    private string $file;

    protected function setUp(): void
    {
        $this->file = tempnam(sys_get_temp_dir(), 'version');
    }

    protected function tearDown(): void
    {
        @unlink($this->file);
    }

    public function testPrefersTheExplicitVersion(): void
    {
        file_put_contents($this->file, "1.0.0~b1+gabc\n");

        $this->assertSame('2.0.0', Version::resolve('2.0.0', $this->file));
    }

    public function testReadsTheFirstLineOfTheVersionFile(): void
    {
        file_put_contents($this->file, "1.4.0~b17+g3f2a9c1\nbuilt by slipway\n");

        $this->assertSame('1.4.0~b17+g3f2a9c1', Version::resolve(null, $this->file));
        $this->assertSame('1.4.0~b17+g3f2a9c1', Version::resolve('  ', $this->file));
    }

    public function testFallsBackWhenNothingUsableIsGiven(): void
    {
        file_put_contents($this->file, "not a version\r\n");

        $this->assertSame(Version::UNKNOWN, Version::resolve(null, $this->file));
        $this->assertSame(Version::UNKNOWN, Version::resolve(null, $this->file.'.missing'));
        $this->assertSame(Version::UNKNOWN, Version::resolve("1.0\nX-Injected: yes", $this->file.'.missing'));
    }
}
