/** Every module's part of the role matrix (test/api-security.test.ts). Add a module here. */
import { identityMatrix } from './identity.ts';
import type { MatrixModule } from './types.ts';

export type { MatrixCase, MatrixContext, MatrixModule } from './types.ts';

export const MATRIX: readonly MatrixModule[] = [identityMatrix];
