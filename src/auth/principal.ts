import type { UserRole } from '../modules/user/user.entity';

/** Who is calling: resolved once per request from the bearer token, never from arguments. */
export interface Principal {
  tenantId: string;
  userId: string;
  role: UserRole;
  /** The credential used, for revocation and (later) the access log. */
  tokenId: string;
}
