/**
 * The host registry: host records, join tokens and credentials, the stored document and its revision,
 * agent reports and host events. Agents authenticate here through the server's machine
 * authenticators; identity knows nothing of hosts.
 */
import { type Kysely, type Selectable, sql } from 'kysely';
import type { AgentReport } from '../agent/index.ts';
import { type MachinePrincipal, UnauthenticatedError } from '../core/index.ts';
import { canonicalJson } from './canonical.ts';
import {
  AGENT_CREDENTIAL_PREFIX,
  issueSecret,
  JOIN_TOKEN_PREFIX,
  parseSecret,
  secretMatches,
} from './host-credentials.ts';
import type { HostDocument } from './host-documents.ts';
import { signalHostChange } from './host-signals.ts';
import type { EnvironmentsTables } from './schema.ts';

type Db = Kysely<EnvironmentsTables>;
export type HostRow = Selectable<EnvironmentsTables['environment_hosts']>;

/** How long a join token stays valid. */
export const JOIN_TOKEN_TTL_MS = 60 * 60 * 1000;
/** How many events a host keeps. */
const MAX_EVENTS = 50;

/** A host event, shown in `env show`. */
export interface HostEvent {
  readonly at: string;
  readonly kind: string;
  readonly message: string;
}

/**
 * Creates the record of the host that fills a slot, or returns the one that fills it now (after a
 * rollout that may be a host of another name). New hosts are named after their slot.
 */
export async function ensureHostRecord(
  db: Db,
  host: { environment: string; name: string; services: readonly string[]; id: string },
  document: (id: string) => HostDocument,
): Promise<HostRow> {
  const existing =
    (await findHostBySlot(db, host.environment, host.name)) ??
    (await findHost(db, host.environment, host.name));
  if (existing) {
    if (canonicalJson(existing.services) !== canonicalJson(host.services) || existing.slot === null) {
      await db
        .updateTable('environment_hosts')
        .set({ services: [...host.services], slot: host.name })
        .where('id', '=', existing.id)
        .execute();
    }
    return (await getHost(db, existing.id))!;
  }
  await db
    .insertInto('environment_hosts')
    .values({
      id: host.id,
      environment: host.environment,
      name: host.name,
      slot: host.name,
      services: [...host.services],
      document: JSON.stringify(document(host.id)),
      events: JSON.stringify([]),
    })
    .onConflict((oc) => oc.columns(['environment', 'name']).doNothing())
    .execute();
  return (await findHost(db, host.environment, host.name))!;
}

/** Creates the record of a host a rollout adds (no slot yet), or returns it when it exists. */
export async function ensureStandbyHostRecord(
  db: Db,
  host: { environment: string; name: string; services: readonly string[]; id: string },
  document: (id: string) => HostDocument,
): Promise<HostRow> {
  const existing = await findHost(db, host.environment, host.name);
  if (existing) return existing;
  await db
    .insertInto('environment_hosts')
    .values({
      id: host.id,
      environment: host.environment,
      name: host.name,
      slot: null,
      services: [...host.services],
      document: JSON.stringify(document(host.id)),
      events: JSON.stringify([]),
    })
    .onConflict((oc) => oc.columns(['environment', 'name']).doNothing())
    .execute();
  return (await findHost(db, host.environment, host.name))!;
}

/** The host that fills a slot. */
export async function findHostBySlot(
  db: Db,
  environment: string,
  slot: string,
): Promise<HostRow | undefined> {
  return db
    .selectFrom('environment_hosts')
    .selectAll()
    .where('environment', '=', environment)
    .where('slot', '=', slot)
    .executeTakeFirst();
}

/**
 * Gives slots to hosts in one statement set: each named host takes the slot, whoever held it loses
 * it. Used when a rollout adopts its new hosts.
 */
export async function assignSlots(
  db: Db,
  environment: string,
  slots: Readonly<Record<string, string>>,
): Promise<void> {
  const hostIds = Object.values(slots);
  if (hostIds.length === 0) return;
  await db
    .updateTable('environment_hosts')
    .set({ slot: null })
    .where('environment', '=', environment)
    .where((eb) => eb.or([eb('slot', 'in', Object.keys(slots)), eb('id', 'in', hostIds)]))
    .execute();
  for (const [slot, hostId] of Object.entries(slots)) {
    await db.updateTable('environment_hosts').set({ slot }).where('id', '=', hostId).execute();
  }
}

/** One host by environment and name. */
export async function findHost(db: Db, environment: string, name: string): Promise<HostRow | undefined> {
  return db
    .selectFrom('environment_hosts')
    .selectAll()
    .where('environment', '=', environment)
    .where('name', '=', name)
    .executeTakeFirst();
}

/** One host by id. */
export async function getHost(db: Db, id: string): Promise<HostRow | undefined> {
  return db.selectFrom('environment_hosts').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The hosts of an environment, by name. */
export async function listHosts(db: Db, environment: string): Promise<HostRow[]> {
  return db
    .selectFrom('environment_hosts')
    .selectAll()
    .where('environment', '=', environment)
    .orderBy('name')
    .execute();
}

/** Issues a fresh one-time join token for a host (an older unused one stops working). */
export async function issueJoinToken(db: Db, hostId: string, now: Date): Promise<string> {
  const token = issueSecret(JOIN_TOKEN_PREFIX);
  await db
    .updateTable('environment_hosts')
    .set({
      join_token_id: token.id,
      join_token_hash: token.hash,
      join_token_expires_at: new Date(now.getTime() + JOIN_TOKEN_TTL_MS),
    })
    .where('id', '=', hostId)
    .execute();
  return token.value;
}

/**
 * Exchanges a join token (already authenticated) for the host's own credential; the token is used up.
 * A host that joins again (its credential was lost or revoked) gets a new credential and the old one stops working.
 */
export async function joinHost(
  db: Db,
  hostId: string,
  tokenId: string,
  now: Date,
): Promise<{ host: HostRow; credential: string }> {
  const credential = issueSecret(AGENT_CREDENTIAL_PREFIX);
  const host = await db
    .updateTable('environment_hosts')
    .set({
      join_token_id: null,
      join_token_hash: null,
      join_token_expires_at: null,
      joined_at: now,
      credential_id: credential.id,
      credential_hash: credential.hash,
      credential_revoked_at: null,
    })
    .where('id', '=', hostId)
    .where('join_token_id', '=', tokenId)
    .returningAll()
    .executeTakeFirst();
  if (!host) throw new UnauthenticatedError('The join token was already used');
  await appendHostEvent(db, hostId, {
    at: now.toISOString(),
    kind: 'joined',
    message: 'the agent joined with its join token',
  });
  return { host, credential: credential.value };
}

/** Revokes a host's credential: its agent is refused until it joins again with a new token. */
export async function revokeHostCredential(db: Db, hostId: string, now: Date): Promise<void> {
  await db
    .updateTable('environment_hosts')
    .set({ credential_revoked_at: now })
    .where('id', '=', hostId)
    .execute();
  await appendHostEvent(db, hostId, {
    at: now.toISOString(),
    kind: 'credential-revoked',
    message: 'the agent credential was revoked',
  });
}

/** Stores a host's document; the revision rises (and the agent is woken) only when it changed. */
export async function setHostDocument(db: Db, hostId: string, document: HostDocument): Promise<number> {
  const current = await db
    .selectFrom('environment_hosts')
    .select(['document', 'revision'])
    .where('id', '=', hostId)
    .executeTakeFirst();
  if (!current) throw new Error(`no host ${hostId}`);
  if (canonicalJson(current.document) === canonicalJson(document)) return current.revision;
  const row = await db
    .updateTable('environment_hosts')
    .set((eb) => ({
      document: JSON.stringify(document),
      revision: eb('revision', '+', 1),
      document_updated_at: new Date(),
    }))
    .where('id', '=', hostId)
    .returning('revision')
    .executeTakeFirstOrThrow();
  signalHostChange(hostId);
  return row.revision;
}

/**
 * Changes a host's document under a row lock: Deployments sets `release`, its processes and tasks
 * this way without losing what the environment's apply wrote, and the other way round.
 */
export async function updateHostDocument(
  db: Db,
  hostId: string,
  change: (document: HostDocument) => HostDocument,
): Promise<number> {
  const revision = await db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('environment_hosts')
      .select(['document', 'revision'])
      .where('id', '=', hostId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const next = change(current.document as HostDocument);
    if (canonicalJson(next) === canonicalJson(current.document)) return current.revision;
    const row = await trx
      .updateTable('environment_hosts')
      .set((eb) => ({
        document: JSON.stringify(next),
        revision: eb('revision', '+', 1),
        document_updated_at: new Date(),
      }))
      .where('id', '=', hostId)
      .returning('revision')
      .executeTakeFirstOrThrow();
    return row.revision;
  });
  signalHostChange(hostId);
  return revision;
}

/** Appends an event to a host's recent history. */
export async function appendHostEvent(db: Db, hostId: string, event: HostEvent): Promise<void> {
  // One statement (concurrent events never overwrite each other), keeping the newest MAX_EVENTS.
  await sql`
    UPDATE environment_hosts SET events = (
      SELECT coalesce(jsonb_agg(value ORDER BY position), '[]'::jsonb)
      FROM jsonb_array_elements(events || ${JSON.stringify([event])}::jsonb) WITH ORDINALITY AS e(value, position)
      WHERE position > jsonb_array_length(events) + 1 - ${MAX_EVENTS}
    ) WHERE id = ${hostId}`.execute(db);
}

/** Records an agent's report; a new agent instance is noted as an event. */
export async function recordReport(db: Db, host: HostRow, report: AgentReport, now: Date): Promise<void> {
  await db
    .updateTable('environment_hosts')
    .set({
      report: JSON.stringify(report),
      reported_at: now,
      agent_instance: report.agent.instance,
      applied_revision: report.appliedRevision,
    })
    .where('id', '=', host.id)
    .execute();
  if (host.agent_instance !== report.agent.instance) {
    await appendHostEvent(db, host.id, {
      at: now.toISOString(),
      kind: host.agent_instance ? 'agent-restarted' : 'agent-connected',
      message: host.agent_instance
        ? `a new agent process reports (instance ${report.agent.instance.slice(0, 8)}, started ${report.agent.startedAt})`
        : `the agent reports (version ${report.agent.version})`,
    });
  }
}

/** Deletes a host record (its credential stops working with it). */
export async function deleteHostRecord(db: Db, hostId: string): Promise<void> {
  await db.deleteFrom('environment_hosts').where('id', '=', hostId).execute();
  signalHostChange(hostId);
}

function principal(kind: MachinePrincipal['kind'], host: HostRow, credentialId: string): MachinePrincipal {
  return {
    kind,
    id: host.id,
    name: `host:${host.environment}/${host.name}`,
    credentialId,
    attributes: { environment: host.environment, host: host.name },
  };
}

/** Authenticates a host agent's credential (`sla_…`). */
export const agentCredentialAuthenticator = {
  prefix: AGENT_CREDENTIAL_PREFIX,
  async authenticate(db: Kysely<any>, value: string): Promise<MachinePrincipal> {
    const parsed = parseSecret(AGENT_CREDENTIAL_PREFIX, value);
    const host = parsed
      ? await (db as Db)
          .selectFrom('environment_hosts')
          .selectAll()
          .where('credential_id', '=', parsed.id)
          .executeTakeFirst()
      : undefined;
    if (!parsed || !host || !secretMatches(parsed.secret, host.credential_hash)) {
      throw new UnauthenticatedError('The host credential is not valid', {
        hint: 'The host was removed, or its agent must join again with a new join token',
      });
    }
    if (host.credential_revoked_at) {
      throw new UnauthenticatedError('The host credential was revoked', {
        hint: `Create a join token with \`slipway agent join-token ${host.environment} ${host.name}\` and join again`,
      });
    }
    return principal('agent', host, parsed.id);
  },
};

/** Authenticates a one-time join token (`slj_…`). */
export const joinTokenAuthenticator = {
  prefix: JOIN_TOKEN_PREFIX,
  async authenticate(db: Kysely<any>, value: string, now: Date): Promise<MachinePrincipal> {
    const parsed = parseSecret(JOIN_TOKEN_PREFIX, value);
    const host = parsed
      ? await (db as Db)
          .selectFrom('environment_hosts')
          .selectAll()
          .where('join_token_id', '=', parsed.id)
          .executeTakeFirst()
      : undefined;
    if (!parsed || !host || !secretMatches(parsed.secret, host.join_token_hash)) {
      throw new UnauthenticatedError('The join token is not valid or was already used', {
        hint: 'Create a new one with `slipway agent join-token ENVIRONMENT HOST`',
      });
    }
    if (host.join_token_expires_at && host.join_token_expires_at <= now) {
      throw new UnauthenticatedError('The join token has expired', {
        hint: `Create a new one with \`slipway agent join-token ${host.environment} ${host.name}\``,
      });
    }
    return principal('agent-join', host, parsed.id);
  },
};
