/** Quoting for the SQL the replication engine generates (identifiers and literals, never user values in code). */

/** A quoted identifier: `users` becomes `"users"`, `a"b` becomes `"a""b"`. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A schema-qualified, quoted name. */
export function qualified(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}

/** A string literal for standard_conforming_strings = on (which every session the engine opens sets). */
export function literal(text: string): string {
  if (text.includes('\0')) throw new Error('A SQL literal cannot contain a NUL character');
  return `'${text.replaceAll("'", "''")}'`;
}

/** A quoted, comma-separated column list. */
export function columnList(columns: readonly string[], prefix?: string): string {
  return columns.map((c) => (prefix ? `${prefix}.${ident(c)}` : ident(c))).join(', ');
}

/** `a.k1 = b.k1 AND a.k2 = b.k2` for key columns. */
export function keyJoin(columns: readonly string[], left: string, right: string): string {
  return columns.map((c) => `${left}.${ident(c)} = ${right}.${ident(c)}`).join(' AND ');
}

/** The schema that holds one link's objects on the source and on the target. */
export function linkSchema(link: string): string {
  return `_slipway_${link}`;
}
