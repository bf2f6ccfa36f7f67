import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from '../config/config';
import type { Logger } from '../shared/logger';
import type { Principal } from '../auth/principal';
import { Access } from '../auth/access';
import { Loaders } from './loaders';
import { unauthenticated } from '../shared/errors';
import { AccessRecorder, type RequestFacts } from '../audit/recorder';
import type { LtiPlatform } from '../modules/lti/lti.key';

/**
 * Everything one GraphQL request works with: one EntityManager fork (one transaction), one set of
 * DataLoaders, the caller, and the recorder of what the request touches. Built per request; nothing
 * here outlives it.
 */
export class RequestContext {
  readonly loaders: Loaders;
  readonly audit: AccessRecorder;
  private accessFacts?: Access;
  /** A presented but unusable credential; raised before execution (see transactionPlugin). */
  authError: Error | null = null;
  /** The LTI platform (issuer and signing key) tool launches are signed as. */
  lti: LtiPlatform | null = null;

  constructor(
    readonly requestId: string,
    readonly em: EntityManager,
    readonly principal: Principal | null,
    readonly config: Config,
    readonly log: Logger,
    facts: Omit<RequestFacts, 'requestId'> = { ip: null, userAgent: null },
  ) {
    this.loaders = new Loaders(this);
    this.audit = new AccessRecorder({ requestId, ...facts }, principal);
  }

  /** The caller's rights. Requests without a principal never reach execution, so this cannot be null there. */
  get access(): Access {
    if (!this.principal) throw unauthenticated();
    this.accessFacts ??= new Access(this.em, this.principal);
    return this.accessFacts;
  }

  get tenantId(): string {
    return this.access.tenantId;
  }
}
