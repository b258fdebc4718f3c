import { readFileSync } from 'node:fs';

/**
 * The uid and gid of a user named in /etc/passwd (the host's own, inside a sandbox), or of a
 * numeric uid.
 * @throws Error naming the user when it does not exist
 */
export function resolveUser(user: string): { uid: number; gid: number } {
  if (/^\d+$/.test(user)) return { uid: Number(user), gid: Number(user) };
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .find((fields) => fields[0] === user);
  if (!line) throw new Error(`cannot run as user "${user}": it is not in /etc/passwd`);
  return { uid: Number(line[2]), gid: Number(line[3]) };
}
