<?php

namespace Tests\Regression;

/**
 * Needs a worker: creating a user queues the welcome email.
 */
final class UserAndEventApiTest extends HttpTestCase
{
    public function testCreatesAUserAndTheWorkerSendsTheWelcomeEmail(): void
    {
        $organisation = $this->request('POST', '/api/organisations', ['name' => $this->uniqueName('Regression Users')])['json']['data'];
        $email = 'Regression.'.bin2hex(random_bytes(4)).'@Example.org';

        $created = $this->request('POST', "/api/organisations/{$organisation['id']}/users", ['name' => 'Grace Hopper', 'email' => $email, 'role' => 'admin']);

        $this->assertSame(201, $created['status'], $created['body']);
        $user = $created['json']['data'];
        $this->assertSame(strtolower($email), $user['email'], 'emails are stored in lower case');
        $this->assertSame('admin', $user['role']);

        $listed = $this->request('GET', "/api/organisations/{$organisation['id']}/users");
        $this->assertSame([$user['id']], array_column($listed['json']['data'], 'id'));

        $sentAt = $this->eventually(
            fn () => $this->request('GET', "/api/users/{$user['id']}")['json']['data']['welcome_sent_at'],
            30,
            'the worker has sent the welcome email'
        );
        $this->assertNotFalse(strtotime($sentAt));
    }

    public function testRejectsADuplicateEmailWhateverItsCase(): void
    {
        $organisation = $this->request('POST', '/api/organisations', ['name' => $this->uniqueName('Regression Users')])['json']['data'];
        $email = 'dup.'.bin2hex(random_bytes(4)).'@example.org';
        $this->request('POST', "/api/organisations/{$organisation['id']}/users", ['name' => 'A', 'email' => $email]);

        $second = $this->request('POST', "/api/organisations/{$organisation['id']}/users", ['name' => 'B', 'email' => strtoupper($email)]);

        $this->assertSame(422, $second['status']);
        $this->assertSame('The email has already been taken.', $second['json']['errors']['email'][0]);
    }

    public function testRecordsEventsAndValidatesThem(): void
    {
        $organisation = $this->request('POST', '/api/organisations', ['name' => $this->uniqueName('Regression Events')])['json']['data'];
        $other = $this->request('POST', '/api/organisations', ['name' => $this->uniqueName('Regression Events')])['json']['data'];
        $user = $this->request('POST', "/api/organisations/{$organisation['id']}/users", ['name' => 'Ada', 'email' => 'ada.'.bin2hex(random_bytes(4)).'@example.org'])['json']['data'];

        $purchase = $this->request('POST', "/api/organisations/{$organisation['id']}/events", ['type' => 'purchase', 'amount_cents' => 1999, 'user_id' => $user['id']]);
        $this->assertSame(201, $purchase['status'], $purchase['body']);
        $this->assertSame(1999, $purchase['json']['data']['amount_cents']);

        $wrongUser = $this->request('POST', "/api/organisations/{$other['id']}/events", ['type' => 'login', 'user_id' => $user['id']]);
        $this->assertSame(422, $wrongUser['status']);
        $this->assertSame('The user must belong to this organisation.', $wrongUser['json']['errors']['user_id'][0]);

        $invalid = $this->request('POST', "/api/organisations/{$organisation['id']}/events", ['type' => 'teleport', 'amount_cents' => -1]);
        $this->assertSame(422, $invalid['status']);
        $this->assertArrayHasKey('type', $invalid['json']['errors']);
        $this->assertArrayHasKey('amount_cents', $invalid['json']['errors']);

        $events = $this->request('GET', "/api/organisations/{$organisation['id']}/events");
        $this->assertSame([$purchase['json']['data']['id']], array_column($events['json']['data'], 'id'));
    }
}
