import type { Generated } from 'kysely';
import { z } from 'zod';
import { ROLES } from '../core/index.ts';

/** A user's login name: lowercase letters, digits, ".", "_" and "-", starting with a letter. */
export const Username = z
  .string()
  .min(2, 'use at least 2 characters')
  .max(63, 'use at most 63 characters')
  .regex(/^[a-z][a-z0-9._-]*$/, 'use lowercase letters, digits, ".", "_" or "-", starting with a letter');

/** A group name; same alphabet as usernames. */
export const GroupName = Username;

/** A new password: long enough to resist guessing, short enough to hash quickly. */
export const NewPassword = z
  .string()
  .min(12, 'use at least 12 characters')
  .max(256, 'use at most 256 characters');

/** An environment name as used in scopes (the environments module uses the same rule). */
export const EnvironmentName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and "-", starting with a letter');

/** A role name. */
export const RoleName = z.enum(ROLES as [string, ...string[]]);

/** A scope as written by users: "platform" or "environment:NAME". */
export const ScopeText = z
  .string()
  .regex(
    /^(platform|environment:[a-z][a-z0-9-]{0,62})$/,
    'use "platform" or "environment:NAME", like "environment:staging"',
  );

/** A role binding's subject as written by users: "user:NAME" or "group:NAME". */
export const SubjectText = z
  .string()
  .regex(/^(user|group):[a-z][a-z0-9._-]{1,62}$/, 'use "user:NAME" or "group:NAME", like "user:alice"');

export const User = z.object({
  id: z.string(),
  username: z.string(),
  displayName: z.string().nullable(),
  email: z.string().nullable(),
  isDisabled: z.boolean(),
  createdAt: z.string(),
  lastLoginAt: z.string().nullable(),
  groups: z.array(z.string()),
});
export type User = z.infer<typeof User>;

export const CreateUserBody = z.strictObject({
  username: Username,
  password: NewPassword,
  displayName: z.string().max(200).optional(),
  email: z.email().max(320).optional(),
});
export type CreateUserBody = z.infer<typeof CreateUserBody>;

export const Group = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  members: z.array(z.string()),
  createdAt: z.string(),
});
export type Group = z.infer<typeof Group>;

export const RoleBinding = z.object({
  id: z.string(),
  subject: z.string(),
  role: RoleName,
  scope: z.string(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});
export type RoleBinding = z.infer<typeof RoleBinding>;

export const ApiToken = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
export type ApiToken = z.infer<typeof ApiToken>;

/** Tables owned by the identity module. */
export interface IdentityTables {
  users: {
    id: string;
    username: string;
    display_name: string | null;
    email: string | null;
    password_hash: string | null;
    is_disabled: Generated<boolean>;
    failed_logins: Generated<number>;
    locked_until: Date | null;
    created_at: Generated<Date>;
    updated_at: Generated<Date>;
    last_login_at: Date | null;
  };
  sessions: {
    id: string;
    user_id: string;
    secret_hash: Buffer;
    csrf_token: string;
    created_at: Generated<Date>;
    expires_at: Date;
    last_seen_at: Generated<Date>;
    source_ip: string | null;
  };
  api_tokens: {
    id: string;
    user_id: string;
    name: string;
    secret_hash: Buffer;
    created_at: Generated<Date>;
    expires_at: Date | null;
    last_used_at: Date | null;
    revoked_at: Date | null;
  };
  groups: { id: string; name: string; description: string | null; created_at: Generated<Date> };
  group_members: { group_id: string; user_id: string; added_at: Generated<Date> };
  role_bindings: {
    id: string;
    subject_kind: 'user' | 'group';
    subject_id: string;
    role: string;
    scope_kind: 'platform' | 'environment';
    environment: string | null;
    created_at: Generated<Date>;
    created_by: string | null;
  };
}
