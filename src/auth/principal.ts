import type { UserRole } from '../modules/user/user.entity';

/**
 * Named rights a SERVICE credential may carry. A closed list: a scope not named here cannot be issued.
 * - `roster:read`   read the tenant's directory: members (with email and student number), courses, rosters; no grades, no content.
 * - `roster:import` import OneRoster rosters from the student information system (the importRoster mutation).
 */
export const SERVICE_SCOPES = ['roster:read', 'roster:import'] as const;
export type ServiceScope = (typeof SERVICE_SCOPES)[number];

/** Scopes that change data: a SERVICE credential without one of these is read-only at the door. */
export const WRITE_SCOPES: readonly ServiceScope[] = ['roster:import'];

export const isServiceScope = (s: string): s is ServiceScope => (SERVICE_SCOPES as readonly string[]).includes(s);

/** The credential a request was made with: an opaque bearer token of ours, or a JWT from the identity provider. */
export interface Credential {
  type: 'TOKEN' | 'JWT';
  /** api_token.id for tokens; a stable, non-reversible digest for JWTs. Recorded in the access log. */
  id: string;
  expiresAt: Date;
}

interface PrincipalBase {
  tenantId: string;
  credential: Credential;
}

/** A member of the tenant (administrator, instructor or student). */
export interface UserPrincipal extends PrincipalBase {
  kind: 'USER';
  userId: string;
  role: UserRole;
}

/** The events an auditor may see: occurred_at in [from, until), either end open. */
export interface AuditWindow {
  from: Date | null;
  until: Date | null;
}

/** An external auditor: read-only, tenant-scoped, never a member; optionally limited to a window of events. */
export interface AuditorPrincipal extends PrincipalBase {
  kind: 'AUDITOR';
  window: AuditWindow;
}

/** A system integration (e.g. the SIS sync) with named scopes. */
export interface ServicePrincipal extends PrincipalBase {
  kind: 'SERVICE';
  scopes: ServiceScope[];
}

/** Who is calling: resolved once per request from the credential, never from arguments. */
export type Principal = UserPrincipal | AuditorPrincipal | ServicePrincipal;
export type PrincipalKind = Principal['kind'];

/** May this principal change anything at all? Checked before a mutation executes. */
export function canWrite(p: Principal): boolean {
  if (p.kind === 'USER') return true;
  if (p.kind === 'SERVICE') return p.scopes.some((s) => WRITE_SCOPES.includes(s));
  return false;
}
