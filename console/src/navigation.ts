/**
 * The console's pages. The side navigation, the page titles and the routing all come from
 * NAVIGATION: a later module adds its page (environments, pipelines, deployments, secrets,
 * replication, monitoring) by adding one entry here.
 */
import type { ComponentType } from 'react';
import { holdsRole, holdsRoleAnywhere } from './access.ts';
import type { Grant, Role } from './api/types.ts';
import { AppsPage } from './pages/apps-page.tsx';
import { ArtifactsPage } from './pages/artifacts-page.tsx';
import { AuditPage } from './pages/audit-page.tsx';
import { DeploymentsPage } from './pages/deployments-page.tsx';
import { EnvironmentsPage } from './pages/environments-page.tsx';
import { GroupsPage } from './pages/groups-page.tsx';
import { NotificationsPage } from './pages/notifications-page.tsx';
import { OverviewPage } from './pages/overview-page.tsx';
import { ReplicationPage } from './pages/replication-page.tsx';
import { RolesPage } from './pages/roles-page.tsx';
import { RunsPage } from './pages/runs-page.tsx';
import { SecretsPage } from './pages/secrets-page.tsx';
import { TokensPage } from './pages/tokens-page.tsx';
import { UsersPage } from './pages/users-page.tsx';

/**
 * Who sees an entry: every logged-in user, or those holding `role` (or a stronger one) on the
 * platform, or on the platform or any one environment (`scope: 'any'`). Hiding is a courtesy: the
 * server checks every call.
 */
export type NavigationAccess = 'authenticated' | { readonly role: Role; readonly scope: 'platform' | 'any' };

/** One page of the console. */
export interface NavigationEntry {
  /** The link text and the page title: "Users". */
  readonly label: string;
  /** The page's path: "/users". */
  readonly path: string;
  /** The group of links it appears under: "Access". */
  readonly section: string;
  readonly component: ComponentType;
  readonly access: NavigationAccess;
}

/** Every page, in navigation order; sections appear in the order of their first entry. */
export const NAVIGATION: readonly NavigationEntry[] = [
  { label: 'Overview', path: '/', section: 'Platform', component: OverviewPage, access: 'authenticated' },
  {
    label: 'Environments',
    path: '/environments',
    section: 'Delivery',
    component: EnvironmentsPage,
    access: { role: 'viewer', scope: 'any' },
  },
  {
    label: 'Apps',
    path: '/apps',
    section: 'Delivery',
    component: AppsPage,
    access: { role: 'viewer', scope: 'platform' },
  },
  {
    label: 'Runs',
    path: '/runs',
    section: 'Delivery',
    component: RunsPage,
    access: { role: 'viewer', scope: 'platform' },
  },
  {
    label: 'Artifacts',
    path: '/artifacts',
    section: 'Delivery',
    component: ArtifactsPage,
    access: { role: 'viewer', scope: 'platform' },
  },
  {
    label: 'Deployments',
    path: '/deployments',
    section: 'Delivery',
    component: DeploymentsPage,
    access: { role: 'viewer', scope: 'any' },
  },
  {
    label: 'Audit log',
    path: '/audit',
    section: 'Platform',
    component: AuditPage,
    access: { role: 'admin', scope: 'platform' },
  },
  {
    label: 'Users',
    path: '/users',
    section: 'Access',
    component: UsersPage,
    access: { role: 'viewer', scope: 'platform' },
  },
  {
    label: 'Groups',
    path: '/groups',
    section: 'Access',
    component: GroupsPage,
    access: { role: 'viewer', scope: 'platform' },
  },
  {
    label: 'Roles',
    path: '/roles',
    section: 'Access',
    component: RolesPage,
    access: { role: 'viewer', scope: 'any' },
  },
  {
    label: 'Secrets',
    path: '/secrets',
    section: 'Delivery',
    component: SecretsPage,
    access: { role: 'viewer', scope: 'any' },
  },
  {
    label: 'Notifications',
    path: '/notifications',
    section: 'Delivery',
    component: NotificationsPage,
    access: 'authenticated',
  },
  {
    label: 'Replication',
    path: '/replication',
    section: 'Delivery',
    component: ReplicationPage,
    access: { role: 'viewer', scope: 'platform' },
  },
  { label: 'My tokens', path: '/tokens', section: 'Account', component: TokensPage, access: 'authenticated' },
];

/** Whether grants allow an entry. */
export function canSee(entry: NavigationEntry, grants: readonly Grant[]): boolean {
  if (entry.access === 'authenticated') return true;
  return entry.access.scope === 'platform'
    ? holdsRole(grants, entry.access.role)
    : holdsRoleAnywhere(grants, entry.access.role);
}

/** The entry for a path ("/users/" finds "/users"), or undefined. */
export function findEntry(path: string): NavigationEntry | undefined {
  const normalized = path.length > 1 ? path.replace(/\/+$/, '') : path;
  return NAVIGATION.find((entry) => entry.path === normalized);
}

/** The entries the grants allow, grouped by section in navigation order. */
export function visibleSections(
  grants: readonly Grant[],
): { readonly section: string; readonly entries: readonly NavigationEntry[] }[] {
  const sections = new Map<string, NavigationEntry[]>();
  for (const entry of NAVIGATION) {
    if (!canSee(entry, grants)) continue;
    const list = sections.get(entry.section) ?? [];
    list.push(entry);
    sections.set(entry.section, list);
  }
  return [...sections].map(([section, entries]) => ({ section, entries }));
}

/** What an entry needs, in words: 'role "admin" on the platform'. */
export function describeAccess(access: NavigationAccess): string {
  if (access === 'authenticated') return 'a login';
  return access.scope === 'platform'
    ? `role "${access.role}" on the platform`
    : `role "${access.role}" on the platform or an environment`;
}
