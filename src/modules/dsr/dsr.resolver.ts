import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../../server/context';
import { NotPersonal, Personal } from '../../privacy/classify';
import { User } from '../user/user.entity';
import {
  DataRequestStatus, DataRequestTransition, DataSubjectRequest, RectificationChange,
} from './dsr.entity';
import { DataRequestsArgs, DataSubjectRequestConnection, FileDataRequestInput, MyDataRequestsArgs } from './dsr.types';
import { loadPrivacySettings, PrivacySettings, savePrivacySettings, UpdatePrivacySettingsInput } from './privacy-settings';
import * as dsr from './dsr.service';
import { ErasurePlan, ErasureReceipt } from './erasure.types';
import { LegalHold, listLegalHolds, placeLegalHold, releaseLegalHold } from './legal-hold';
import { listRecipientNotices, markNoticeSent, RecipientNotice } from './notices';
import { RetentionEntry, retentionSchedule, setRetentionPeriod } from './retention';

/** What a rejected person is told about where else they can turn (GDPR Art. 12(4), Art. 77; FERPA 99.63). */
export const COMPLAINT_NOTICE = 'You may lodge a complaint with a data protection supervisory authority (GDPR Art. 77), in particular in ' +
  'the member state of your habitual residence, place of work or of the alleged infringement, and seek a judicial remedy. Students and ' +
  'parents in the United States may file a complaint with the U.S. Department of Education\'s Student Privacy Policy Office (FERPA, 34 CFR 99.63).';

@Resolver(() => DataSubjectRequest)
export class DataSubjectRequestResolver {
  @Query(() => PrivacySettings, { description: 'How this institution answers data-subject requests.' })
  privacySettings(@Ctx() ctx: RequestContext) {
    return loadPrivacySettings(ctx.em, ctx.tenantId);
  }

  @Query(() => DataSubjectRequestConnection, { description: 'The caller\'s own data-subject requests, newest first.' })
  myDataRequests(@Args() args: MyDataRequestsArgs, @Ctx() ctx: RequestContext) {
    return dsr.listMyRequests(ctx, args);
  }

  @Query(() => DataSubjectRequestConnection, { description: 'The tenant\'s data-subject requests, newest first (administrators).' })
  dataRequests(@Args() args: DataRequestsArgs, @Ctx() ctx: RequestContext) {
    return dsr.listRequests(ctx, args);
  }

  @Query(() => DataSubjectRequest, { description: 'One request: the caller\'s own, or any of the tenant\'s for an administrator.' })
  dataRequest(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return dsr.getRequest(ctx, id);
  }

  @Query(() => ErasurePlan, { description: 'Dry run of an erasure: what would be scrubbed, deleted or retained (and why). The caller\'s own, or any member\'s for an administrator.' })
  erasurePlan(@Arg('subjectId', () => ID, { nullable: true }) rawSubjectId: string | null, @Ctx() ctx: RequestContext): Promise<ErasurePlan> {
    return dsr.erasurePlanFor(ctx, rawSubjectId);
  }

  @Query(() => [LegalHold], { description: 'The tenant\'s legal holds, newest first, at most 500 (administrators).' })
  legalHolds(
    @Arg('userId', () => ID, { nullable: true }) userId: string | null, @Arg('activeOnly', () => Boolean, { defaultValue: false }) activeOnly: boolean,
    @Ctx() ctx: RequestContext,
  ) {
    return listLegalHolds(ctx, userId, activeOnly);
  }

  @Query(() => [RecipientNotice], { description: 'Art. 19 notices owed to recipients after rectifications and erasures, pending first; at most 500 (administrators).' })
  recipientNotices(@Arg('pendingOnly', () => Boolean, { defaultValue: true }) pendingOnly: boolean, @Ctx() ctx: RequestContext) {
    return listRecipientNotices(ctx, pendingOnly);
  }

  @Mutation(() => RecipientNotice, { description: 'Records that a recipient was told of a rectification or erasure.' })
  markNoticeSent(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return markNoticeSent(ctx, id);
  }

  @Query(() => [RetentionEntry], { description: 'How long each category of personal data is kept here, with what erasure does to it.' })
  retentionSchedule(@Ctx() ctx: RequestContext) {
    return retentionSchedule(ctx);
  }

  @Mutation(() => RetentionEntry, { description: 'Sets this institution\'s own retention period for a category; null returns to the default (administrators).' })
  setRetentionPeriod(@Arg('category', () => String) category: string, @Arg('period', () => String, { nullable: true }) period: string | null,
    @Ctx() ctx: RequestContext) {
    return setRetentionPeriod(ctx, category, period);
  }

  @Mutation(() => LegalHold, { description: 'Places a legal hold on a member\'s data, stating why: no erasure purge runs while it is active.' })
  placeLegalHold(@Arg('userId', () => ID) userId: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: RequestContext) {
    return placeLegalHold(ctx, userId, reason);
  }

  @Mutation(() => LegalHold, { description: 'Releases a legal hold, stating why; an erasure it blocked proceeds.' })
  releaseLegalHold(@Arg('id', () => ID) id: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: RequestContext) {
    return releaseLegalHold(ctx, id, reason);
  }

  @Mutation(() => DataSubjectRequest, { description: 'Files a request for the caller, or (administrators) on a member\'s behalf.' })
  fileDataRequest(@Arg('input', () => FileDataRequestInput) input: FileDataRequestInput, @Ctx() ctx: RequestContext) {
    return dsr.fileRequest(ctx, input);
  }

  @Mutation(() => DataSubjectRequest, { description: 'Approves a submitted request; Custos then carries it out.' })
  approveDataRequest(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return dsr.approveRequest(ctx, id);
  }

  @Mutation(() => DataSubjectRequest, { description: 'Rejects a submitted request, stating why; the person is told of their right to complain.' })
  rejectDataRequest(@Arg('id', () => ID) id: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: RequestContext) {
    return dsr.rejectRequest(ctx, id, reason);
  }

  @Mutation(() => DataSubjectRequest, { description: 'Extends the due date once, by up to 60 days, inside the first response window.' })
  extendDataRequest(
    @Arg('id', () => ID) id: string, @Arg('days', () => Int) days: number, @Arg('reason', () => String) reason: string, @Ctx() ctx: RequestContext,
  ) {
    return dsr.extendRequest(ctx, id, days, reason);
  }

  @Mutation(() => DataSubjectRequest, { description: 'The person withdraws their request before it is decided.' })
  cancelDataRequest(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return dsr.cancelRequest(ctx, id);
  }

  @Mutation(() => DataSubjectRequest, { description: 'Approves a FAILED request again; its work resumes where it stopped.' })
  retryDataRequest(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return dsr.retryRequest(ctx, id);
  }

  @Mutation(() => DataSubjectRequest, { description: 'Lifts a restriction in force, stating why (administrators).' })
  liftRestriction(@Arg('id', () => ID) id: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: RequestContext) {
    return dsr.liftRestriction(ctx, id, reason);
  }

  @Mutation(() => PrivacySettings, { description: 'Changes how this institution answers data-subject requests (administrators).' })
  updatePrivacySettings(@Arg('input', () => UpdatePrivacySettingsInput) input: UpdatePrivacySettingsInput, @Ctx() ctx: RequestContext) {
    ctx.access.requireAdmin();
    return savePrivacySettings(ctx.em, ctx.tenantId, input);
  }

  @FieldResolver(() => User, { nullable: true, description: 'The person the request is about (null once erased).' })
  subject(@Root() req: DataSubjectRequest, @Ctx() ctx: RequestContext) {
    return ctx.loaders.userById.load(req.subjectId);
  }

  @Personal('user.data_request')
  @FieldResolver(() => [RectificationChange], { description: 'RECTIFICATION: each field, its corrected value and (once applied) the value before.' })
  changes(@Root() req: DataSubjectRequest): RectificationChange[] {
    return (req.changes ?? []).map((c) => ({ subjectId: req.subjectId, field: c.field, before: c.before ?? null, after: c.after }));
  }

  @Personal('user.data_request')
  @FieldResolver(() => [DataRequestTransition], { description: 'Every status the request has had, oldest first.' })
  history(@Root() req: DataSubjectRequest): DataRequestTransition[] {
    return req.history.map((h) => ({ subjectId: req.subjectId, status: h.status, at: new Date(h.at), by: h.by }));
  }

  @Personal('user.data_request')
  @FieldResolver(() => Boolean, { description: 'Open and past its due date.' })
  overdue(@Root() req: DataSubjectRequest) {
    return dsr.isOverdue(req);
  }

  @NotPersonal()
  @FieldResolver(() => ErasureReceipt, { nullable: true, description: 'ERASURE: the signed deletion receipt, once completed.' })
  async receipt(@Root() req: DataSubjectRequest, @Ctx() ctx: RequestContext): Promise<ErasureReceipt | null> {
    if (req.type !== 'ERASURE') return null;
    const [row] = await ctx.em.execute<{ body: string; key_id: string; signature: Buffer }[]>(
      'select body, key_id, signature from erasure_receipt where tenant_id = ? and request_id = ?', [ctx.tenantId, req.id]);
    return row ? { body: row.body, keyId: row.key_id, signature: row.signature.toString('base64') } : null;
  }

  @NotPersonal()
  @FieldResolver(() => String, { nullable: true, description: 'For a rejected request: the person\'s right to complain and seek a remedy.' })
  complaintNotice(@Root() req: DataSubjectRequest) {
    return req.status === DataRequestStatus.REJECTED ? COMPLAINT_NOTICE : null;
  }
}

@Resolver(() => LegalHold)
export class LegalHoldResolver {
  @FieldResolver(() => User, { nullable: true, description: 'The member whose data is held.' })
  subject(@Root() hold: LegalHold, @Ctx() ctx: RequestContext) {
    return ctx.loaders.userById.load(hold.userId);
  }
}
