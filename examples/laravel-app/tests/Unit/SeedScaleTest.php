<?php

namespace Tests\Unit;

use App\Exceptions\InvalidInput;
use App\Support\SeedScale;
use PHPUnit\Framework\TestCase;

final class SeedScaleTest extends TestCase
{
    public function testDefaultsToTheFullSize(): void
    {
        $scale = SeedScale::fromEnvironment([]);

        $this->assertSame(1000, $scale->organisations);
        $this->assertSame(50, $scale->usersPerOrganisation);
        $this->assertSame(50000, $scale->users());
        $this->assertSame(2000000, $scale->events);
    }

    public function testScalesEveryFigure(): void
    {
        $scale = SeedScale::fromEnvironment(['SEED_SCALE' => '0.01']);

        $this->assertSame([10, 50, 20000], [$scale->organisations, $scale->usersPerOrganisation, $scale->events]);
    }

    public function testExplicitFiguresWin(): void
    {
        $scale = SeedScale::fromEnvironment(['SEED_SCALE' => '0.01', 'SEED_ORGANISATIONS' => '4', 'SEED_USERS' => '10', 'SEED_EVENTS' => '0']);

        $this->assertSame([4, 2, 0], [$scale->organisations, $scale->usersPerOrganisation, $scale->events]);
    }

    /**
     * @dataProvider invalidEnvironments
     *
     * @param  array<string, string>  $environment
     */
    public function testRejectsInvalidValuesNamingTheVariable(array $environment, string $message): void
    {
        $this->expectException(InvalidInput::class);
        $this->expectExceptionMessage($message);

        SeedScale::fromEnvironment($environment);
    }

    /**
     * @return array<string, array{0: array<string, string>, 1: string}>
     */
    public static function invalidEnvironments(): array
    {
        return [
            'not a number' => [['SEED_SCALE' => 'lots'], 'SEED_SCALE is "lots" but must be a number from 0.0001 to 100'],
            'zero scale' => [['SEED_SCALE' => '0'], 'SEED_SCALE is "0"'],
            'negative' => [['SEED_EVENTS' => '-5'], 'SEED_EVENTS is "-5" but must be a whole number'],
            'fraction of organisations' => [['SEED_ORGANISATIONS' => '2.5'], 'SEED_ORGANISATIONS is "2.5"'],
            'fewer users than organisations' => [['SEED_ORGANISATIONS' => '10', 'SEED_USERS' => '3'], '3 users for 10 organisations'],
        ];
    }
}
