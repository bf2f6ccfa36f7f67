import { Args, Ctx, Query, Resolver } from 'type-graphql';
import {
  AccessHistoryArgs, AccessRecordConnection, AuditCheckpoint, AuditEventConnection, AuditEventsArgs, AuditConsistencyProof, AuditInclusionProof, AuditPublicKey,
  CheckpointArgs, ConsistencyProofArgs, InclusionProofArgs,
} from './audit.types';
import * as audit from './audit.service';
import type { RequestContext } from '../../server/context';
import { PageArgs } from '../../shared/pagination';

@Resolver()
export class AuditResolver {
  @Query(() => AuditCheckpoint, { nullable: true, description: 'The tenant\'s latest signed checkpoint (or the one of `treeSize`); null before any.' })
  auditCheckpoint(@Args() args: CheckpointArgs, @Ctx() ctx: RequestContext) {
    return audit.getCheckpoint(ctx, args.treeSize);
  }

  @Query(() => AuditInclusionProof, { description: 'Proof that a sealed access event is in the tree of a checkpoint.' })
  auditInclusionProof(@Args() args: InclusionProofArgs, @Ctx() ctx: RequestContext) {
    return audit.getInclusionProof(ctx, args.eventId, args.treeSize);
  }

  @Query(() => AuditConsistencyProof, { description: 'Proof that a later checkpoint\'s tree extends an earlier one\'s.' })
  auditConsistencyProof(@Args() args: ConsistencyProofArgs, @Ctx() ctx: RequestContext) {
    return audit.getConsistencyProof(ctx, args.fromSize, args.toSize);
  }

  @Query(() => [AuditPublicKey], { description: 'Public keys checkpoints are signed with.' })
  auditPublicKeys(@Ctx() ctx: RequestContext) {
    return audit.listPublicKeys(ctx);
  }

  @Query(() => AuditEventConnection, {
    description: 'The tenant\'s access log, newest first, pseudonymous (administrators and auditors; an auditor sees their window only).',
  })
  auditEvents(@Args() args: AuditEventsArgs, @Ctx() ctx: RequestContext) {
    return audit.listAuditEvents(ctx, args);
  }

  @Query(() => AccessRecordConnection, { description: 'Who accessed the caller\'s data, newest first.' })
  myAccessHistory(@Args() args: PageArgs, @Ctx() ctx: RequestContext) {
    return audit.accessHistoryOf(ctx, ctx.access.userId, args);
  }

  @Query(() => AccessRecordConnection, { description: 'Who accessed a member\'s data, newest first (administrators).' })
  accessHistory(@Args() args: AccessHistoryArgs, @Ctx() ctx: RequestContext) {
    return audit.accessHistoryForAdmin(ctx, args.userId, args);
  }
}
