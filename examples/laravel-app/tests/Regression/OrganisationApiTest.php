<?php

namespace Tests\Regression;

final class OrganisationApiTest extends HttpTestCase
{
    public function testCreatesAnOrganisationAndFindsItInTheList(): void
    {
        $name = $this->uniqueName('Regression Org');

        $created = $this->request('POST', '/api/organisations', ['name' => $name, 'plan' => 'team']);

        $this->assertSame(201, $created['status'], $created['body']);
        $organisation = $created['json']['data'];
        $this->assertSame($name, $organisation['name']);
        $this->assertSame('team', $organisation['plan']);
        $this->assertMatchesRegularExpression('/^regression-org-[0-9a-f]{8}(-\d+)?$/', $organisation['slug']);
        $this->assertSame(0, $organisation['users_count']);

        $listed = $this->request('GET', '/api/organisations?search='.rawurlencode($name));
        $this->assertSame(200, $listed['status']);
        $this->assertSame([$organisation['id']], array_column($listed['json']['data'], 'id'));
        $this->assertSame(1, $listed['json']['meta']['total']);

        $shown = $this->request('GET', "/api/organisations/{$organisation['id']}");
        $this->assertSame($name, $shown['json']['data']['name']);
        $this->assertNull($shown['json']['data']['latest_analysis']);
    }

    public function testPaginatesTheList(): void
    {
        $this->request('POST', '/api/organisations', ['name' => $this->uniqueName('Regression Page')]);
        $this->request('POST', '/api/organisations', ['name' => $this->uniqueName('Regression Page')]);

        $page = $this->request('GET', '/api/organisations?per_page=1&page=2');

        $this->assertSame(200, $page['status']);
        $this->assertCount(1, $page['json']['data']);
        $this->assertSame(2, $page['json']['meta']['current_page']);
        $this->assertSame(1, $page['json']['meta']['per_page']);
        $this->assertGreaterThanOrEqual(2, $page['json']['meta']['total']);
    }

    public function testRejectsInvalidInputWithJsonValidationErrors(): void
    {
        $response = $this->request('POST', '/api/organisations', ['name' => '', 'plan' => 'gold', 'slug' => 'Not A Slug']);

        $this->assertSame(422, $response['status']);
        $this->assertStringStartsWith('application/json', $response['headers']['content-type']);
        $this->assertSame(['name', 'slug', 'plan'], array_keys($response['json']['errors']));
        $this->assertSame('The name field is required.', $response['json']['errors']['name'][0]);
        $this->assertSame('The selected plan is invalid: use one of free, team, business, enterprise.', $response['json']['errors']['plan'][0]);
    }

    public function testAnswersValidationErrorsAsJsonWhateverTheClientAccepts(): void
    {
        $response = $this->request('POST', '/api/organisations', [], ['Accept' => 'text/html']);

        $this->assertSame(422, $response['status']);
        $this->assertArrayHasKey('name', $response['json']['errors']);
    }

    public function testRejectsADuplicateSlug(): void
    {
        $slug = 'regression-'.bin2hex(random_bytes(4));
        $this->assertSame(201, $this->request('POST', '/api/organisations', ['name' => 'First', 'slug' => $slug])['status']);

        $second = $this->request('POST', '/api/organisations', ['name' => 'Second', 'slug' => $slug]);

        $this->assertSame(422, $second['status']);
        $this->assertSame('The slug has already been taken.', $second['json']['errors']['slug'][0]);
    }

    public function testRejectsAnOutOfRangePageSize(): void
    {
        $response = $this->request('GET', '/api/organisations?per_page=1000');

        $this->assertSame(422, $response['status']);
        $this->assertSame('The page size must not be greater than 100.', $response['json']['errors']['per_page'][0]);
    }

    public function testAnswersAMissingOrganisationWith404Json(): void
    {
        $response = $this->request('GET', '/api/organisations/987654321');

        $this->assertSame(404, $response['status']);
        $this->assertSame('Cannot find organisation 987654321', $response['json']['message']);
    }
}
