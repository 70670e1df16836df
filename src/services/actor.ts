// Who calls a service: the audit log's actor name and the scopes authorization decisions are made on.

export type Scope = 'read' | 'write' | 'admin';
const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

export interface Actor {
  /** `admin-token`, `token:<name>` or `user:<email>`, as the audit log records it. */
  name: string;
  scopes: readonly string[];
}

/** True when `scopes` include `needed` or a larger scope. */
export function hasScope(scopes: readonly string[] | undefined, needed: Scope): boolean {
  return Math.max(0, ...(scopes ?? []).map((s) => RANK[s as Scope] ?? 0)) >= RANK[needed];
}
