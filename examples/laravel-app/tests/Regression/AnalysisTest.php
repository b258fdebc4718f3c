<?php

namespace Tests\Regression;

/**
 * Needs a worker listening on the analysis queue.
 */
final class AnalysisTest extends HttpTestCase
{
    public function testAnAnalysisRequestIsProcessedByAWorker(): void
    {
        $organisation = $this->request('POST', '/api/organisations', ['name' => $this->uniqueName('Regression Analysis')])['json']['data'];
        $user = $this->request('POST', "/api/organisations/{$organisation['id']}/users", ['name' => 'Linus', 'email' => 'linus.'.bin2hex(random_bytes(4)).'@example.org'])['json']['data'];
        foreach ([['purchase', 5000], ['purchase', 2500], ['refund', 1000], ['login', 0]] as [$type, $amount]) {
            $this->request('POST', "/api/organisations/{$organisation['id']}/events", ['type' => $type, 'amount_cents' => $amount, 'user_id' => $user['id']]);
        }

        $queued = $this->request('POST', "/api/organisations/{$organisation['id']}/analyses");
        $this->assertSame(202, $queued['status'], $queued['body']);

        $analysis = $this->eventually(
            fn () => $this->request('GET', "/api/organisations/{$organisation['id']}/analyses")['json']['data'][0] ?? null,
            60,
            'the worker has analysed the organisation'
        );
        $this->assertSame(4, $analysis['events_count']);
        $this->assertSame(5000 + 2500 - 1000, $analysis['revenue_cents']);
        $this->assertSame(['login' => 1, 'purchase' => 2, 'refund' => 1], $analysis['events_by_type']);
        $this->assertSame(1, $analysis['active_users']);
        $this->assertGreaterThan(0, $analysis['duration_seconds']);

        $shown = $this->request('GET', "/api/organisations/{$organisation['id']}");
        $this->assertSame($analysis['id'], $shown['json']['data']['latest_analysis']['id']);
    }

    public function testListsRunsAndTheLatestResultPerOrganisation(): void
    {
        $runs = $this->request('GET', '/api/analysis-runs?per_page=5');
        $this->assertSame(200, $runs['status']);
        $this->assertIsArray($runs['json']['data']);

        $latest = $this->request('GET', '/api/analyses/latest?per_page=5');
        $this->assertSame(200, $latest['status']);
        $this->assertLessThanOrEqual(5, count($latest['json']['data']));
        foreach ($latest['json']['data'] as $row) {
            $this->assertArrayHasKey('organisation', $row);
            $this->assertArrayHasKey('analysis', $row);
        }
    }
}
