import type { LightMyRequestResponse } from 'fastify';
import type { Role } from '../../src/core/index.ts';
import type { TestServer } from '../../src/server/testing.ts';

/** What a case may use to prepare its request. */
export interface MatrixContext {
  /** Sends a request as the platform administrator (to prepare state). */
  admin(method: string, path: string, body?: unknown): Promise<LightMyRequestResponse>;
  readonly server: TestServer;
}

/** One role-guarded call: what it needs, and how to make a fresh, valid request for call number n. */
export interface MatrixCase {
  readonly name: string;
  readonly needs: { readonly role: Role; readonly scope: string };
  readonly request: (n: number) => Promise<{ method: string; path: string; body?: unknown }>;
  /**
   * The status an allowed call answers when it cannot succeed in the matrix's bare setup but got
   * past the role check (a deploy to an environment never applied: 404). @default any 2xx
   */
  readonly allowedStatus?: number | readonly number[];
}

/** A module's part of the role matrix: every role-guarded route it has, and the cases that call them. */
export interface MatrixModule {
  readonly covers: readonly string[];
  readonly cases: (context: MatrixContext) => MatrixCase[];
}
