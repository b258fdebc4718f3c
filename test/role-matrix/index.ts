/** Every module's part of the role matrix (test/api-security.test.ts). Add a module here. */
import { artifactsMatrix } from './artifacts.ts';
import { deploymentsMatrix } from './deployments.ts';
import { environmentsMatrix } from './environments.ts';
import { identityMatrix } from './identity.ts';
import { notificationsMatrix } from './notifications.ts';
import { pipelinesMatrix } from './pipelines.ts';
import { replicationMatrix } from './replication.ts';
import { secretsMatrix } from './secrets.ts';
import type { MatrixModule } from './types.ts';

export type { MatrixCase, MatrixContext, MatrixModule } from './types.ts';

export const MATRIX: readonly MatrixModule[] = [
  identityMatrix,
  secretsMatrix,
  environmentsMatrix,
  pipelinesMatrix,
  artifactsMatrix,
  replicationMatrix,
  notificationsMatrix,
  deploymentsMatrix,
];
