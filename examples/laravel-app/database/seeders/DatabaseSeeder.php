<?php

namespace Database\Seeders;

use App\Support\SeedScale;
use Illuminate\Database\Seeder;
use Illuminate\Support\Facades\DB;

/**
 * Creates realistic volume quickly: PostgreSQL generates the rows itself
 * (generate_series), so 1,000 organisations, 50,000 users and 2 million events
 * take seconds rather than the minutes that row-by-row inserts from PHP take.
 *
 * Events are spread over organisations with a long tail (a few large accounts,
 * many small ones), over the last 90 days, with a mix of types and amounts.
 * Running it again adds another set of data.
 */
class DatabaseSeeder extends Seeder
{
    private const EVENT_BATCH = 250_000;

    public function run(): void
    {
        $scale = SeedScale::fromEnvironment(getenv());
        $started = microtime(true);
        DB::statement('SET synchronous_commit = off');

        $this->seedOrganisations($scale->organisations);
        $this->seedUsers($scale->usersPerOrganisation);
        $this->seedEvents($scale->events);
        DB::statement('DROP TABLE seed_organisations');

        DB::statement('ANALYZE organisations');
        DB::statement('ANALYZE users');
        DB::statement('ANALYZE events');

        $this->say(sprintf(
            'Seeded %d organisations, %d users and %d events in %.1f s',
            $scale->organisations,
            $scale->users(),
            $scale->events,
            microtime(true) - $started
        ));
    }

    /** Inserts the organisations and notes their ids in the temporary table seed_organisations. */
    private function seedOrganisations(int $count): void
    {
        $offset = $this->value('SELECT coalesce(max(id), 0) AS value FROM organisations');
        DB::statement('DROP TABLE IF EXISTS seed_organisations');
        DB::statement('CREATE TEMPORARY TABLE seed_organisations (id bigint PRIMARY KEY)');
        DB::insert(<<<'SQL'
            WITH inserted AS (
                INSERT INTO organisations (name, slug, plan, created_at, updated_at)
                SELECT name, lower(replace(name, ' ', '-')) || '-' || (? + g), plan, created, created
                  FROM (
                    SELECT g,
                           (ARRAY['Acme','Globex','Initech','Umbrella','Hooli','Vandelay','Stark','Wayne','Tyrell','Soylent',
                                  'Wonka','Gringotts','Oscorp','Aperture','Cyberdyne','Massive','Monarch','Pied Piper','Dunder','Nakatomi'])[1 + g % 20]
                           || ' ' ||
                           (ARRAY['Labs','Systems','Industries','Logistics','Analytics','Studios','Foods','Health','Energy','Partners'])[1 + (g / 20) % 10]
                             AS name,
                           (ARRAY['free','free','team','team','team','business','business','enterprise'])[1 + (g * 7) % 8] AS plan,
                           now() - (random() * interval '730 days') AS created
                      FROM generate_series(1, ?) AS g
                  ) AS generated
                 ORDER BY g
                ON CONFLICT (slug) DO NOTHING
                RETURNING id
            )
            INSERT INTO seed_organisations SELECT id FROM inserted
            SQL, [$offset, $count]);
        $this->say('Organisations: '.$this->value('SELECT count(*) AS value FROM seed_organisations'));
    }

    private function seedUsers(int $perOrganisation): void
    {
        DB::insert(<<<'SQL'
            INSERT INTO users (organisation_id, name, email, role, welcome_sent_at, created_at, updated_at)
            SELECT o.id,
                   (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Margaret','Ken','Frances','Linus',
                          'Radia','John','Katherine','Tim','Hedy','Dennis','Sophie','Guido','Anita','Bjarne'])[1 + (o.id + u) % 20]
                   || ' ' ||
                   (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Hamilton','Thompson','Allen','Torvalds',
                          'Perlman','Backus','Johnson','Berners-Lee','Lamarr','Ritchie','Wilson','van Rossum','Borg','Stroustrup'])[1 + (o.id * 7 + u * 3) % 20],
                   'user' || u || '@' || o.slug || '.example',
                   CASE WHEN u = 1 THEN 'owner' WHEN u <= 3 THEN 'admin' ELSE 'member' END,
                   o.created_at, o.created_at, o.created_at
              FROM organisations o
              JOIN seed_organisations s ON s.id = o.id
             CROSS JOIN generate_series(1, ?) AS u
             ORDER BY o.id, u
            SQL, [$perOrganisation]);
        $this->say('Users: '.$this->value(
            'SELECT count(*) AS value FROM users WHERE organisation_id IN (SELECT id FROM seed_organisations)'
        ));
    }

    private function seedEvents(int $count): void
    {
        // Each new organisation gets an index (0 = the largest account) and the
        // array of its user ids to draw from.
        DB::statement('DROP TABLE IF EXISTS seed_accounts');
        DB::statement(<<<'SQL'
            CREATE TEMPORARY TABLE seed_accounts AS
            SELECT (row_number() OVER (ORDER BY organisation_id) - 1)::int AS idx,
                   organisation_id AS id, array_agg(id ORDER BY id) AS user_ids, count(*)::int AS users
              FROM users
             WHERE organisation_id IN (SELECT id FROM seed_organisations)
             GROUP BY organisation_id
            SQL);
        $accounts = $this->value('SELECT count(*) AS value FROM seed_accounts');
        DB::statement('CREATE UNIQUE INDEX ON seed_accounts (idx)');
        DB::statement('ANALYZE seed_accounts');

        // PostgreSQL's advice for bulk loads: drop the secondary indexes and foreign
        // keys, load, then rebuild them once. One transaction, so a failure leaves
        // the table as it was; other sessions wait on the table meanwhile.
        DB::transaction(function () use ($count, $accounts) {
            DB::statement("SET LOCAL maintenance_work_mem = '256MB'");
            $indexes = DB::select(<<<'SQL'
                SELECT indexname, indexdef FROM pg_indexes
                 WHERE schemaname = current_schema() AND tablename = 'events'
                   AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype IN ('p', 'u', 'x'))
                SQL);
            $foreignKeys = DB::select(
                "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'f'"
            );
            foreach ($foreignKeys as $foreignKey) {
                DB::statement('ALTER TABLE events DROP CONSTRAINT '.$this->quote($foreignKey->conname));
            }
            foreach ($indexes as $index) {
                DB::statement('DROP INDEX '.$this->quote($index->indexname));
            }

            $this->insertEvents($count, $accounts);

            foreach ($indexes as $index) {
                DB::statement($index->indexdef);
            }
            foreach ($foreignKeys as $foreignKey) {
                DB::statement('ALTER TABLE events ADD CONSTRAINT '.$this->quote($foreignKey->conname).' '.$foreignKey->definition);
            }
            $this->say('Events: indexes and foreign keys rebuilt');
        });
        DB::statement('DROP TABLE seed_accounts');
    }

    private function insertEvents(int $count, int $accounts): void
    {
        for ($done = 0; $done < $count; $done += self::EVENT_BATCH) {
            $batch = min(self::EVENT_BATCH, $count - $done);
            DB::insert(<<<'SQL'
                INSERT INTO events (organisation_id, user_id, type, amount_cents, occurred_at, created_at)
                SELECT a.id,
                       CASE WHEN s.r_system < 0.03 THEN NULL ELSE a.user_ids[1 + floor(s.r_user * a.users)::int] END,
                       t.type,
                       CASE t.type WHEN 'purchase' THEN 500 + floor(s.r_amount * 20000)::bigint
                                   WHEN 'refund' THEN 500 + floor(s.r_amount * 5000)::bigint
                                   ELSE 0 END,
                       s.occurred_at,
                       s.occurred_at
                  FROM (
                    SELECT g,
                           floor(? * power(random(), 2))::int AS idx,
                           random() AS r_type, random() AS r_user, random() AS r_amount, random() AS r_system,
                           now() - random() * interval '90 days' AS occurred_at
                      FROM generate_series(1, ?) AS g
                  ) AS s
                  JOIN seed_accounts a ON a.idx = s.idx
                 CROSS JOIN LATERAL (
                    SELECT CASE WHEN s.r_type < 0.45 THEN 'page_view'
                                WHEN s.r_type < 0.70 THEN 'feature_used'
                                WHEN s.r_type < 0.85 THEN 'login'
                                WHEN s.r_type < 0.97 THEN 'purchase'
                                ELSE 'refund' END AS type
                 ) AS t
                SQL, [$accounts, $batch]);
            $this->say('Events: '.($done + $batch)." of {$count}");
        }
    }

    private function quote(string $identifier): string
    {
        return '"'.str_replace('"', '""', $identifier).'"';
    }

    private function value(string $sql): int
    {
        return (int) DB::selectOne($sql)->value;
    }

    private function say(string $line): void
    {
        if ($this->command !== null) {
            $this->command->getOutput()->writeln("  {$line}");
        }
    }
}
