import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../../server/context';
import { PageArgs } from '../../shared/pagination';
import { User } from '../user/user.entity';
import { Incident, IncidentHistoryEntry, SuspectKind } from './incident.entity';
import {
  AuthorityNotificationInput, IncidentAffectedSubject, IncidentAffectedSubjectConnection, IncidentConnection, IncidentImpact, IncidentNotification,
  IncidentsArgs, OpenIncidentInput, SubjectNotificationInput, UpdateIncidentInput,
} from './incident.types';
import * as incidents from './incident.service';

@Resolver(() => Incident)
export class IncidentResolver {
  @Query(() => IncidentConnection, { description: 'The tenant\'s breach incidents, newest first (administrators and auditors).' })
  incidents(@Args() args: IncidentsArgs, @Ctx() ctx: RequestContext) {
    return incidents.listIncidents(ctx, args);
  }

  @Query(() => Incident, { description: 'One breach incident (administrators and auditors).' })
  incident(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return incidents.getIncident(ctx, id);
  }

  @Mutation(() => Incident, { description: 'Opens a breach incident: detection time, description, the suspected credential or member, the window of events to examine.' })
  openIncident(@Arg('input', () => OpenIncidentInput) input: OpenIncidentInput, @Ctx() ctx: RequestContext) {
    return incidents.openIncident(ctx, input);
  }

  @Mutation(() => Incident, { description: 'Corrects an open incident\'s description or window.' })
  updateIncident(@Arg('id', () => ID) id: string, @Arg('input', () => UpdateIncidentInput) input: UpdateIncidentInput, @Ctx() ctx: RequestContext) {
    return incidents.updateIncident(ctx, id, input);
  }

  @Mutation(() => Incident, { description: 'Records that the supervisory authority was told (Art. 33): who, when, how.' })
  recordAuthorityNotification(@Arg('id', () => ID) id: string, @Arg('input', () => AuthorityNotificationInput) input: AuthorityNotificationInput,
    @Ctx() ctx: RequestContext) {
    return incidents.recordAuthorityNotification(ctx, id, input);
  }

  @Mutation(() => Incident, { description: 'Records that the people affected were told (Art. 34): how many, when, how.' })
  recordSubjectNotification(@Arg('id', () => ID) id: string, @Arg('input', () => SubjectNotificationInput) input: SubjectNotificationInput,
    @Ctx() ctx: RequestContext) {
    return incidents.recordSubjectNotification(ctx, id, input);
  }

  @Mutation(() => Incident, { description: 'Records why the authority is told after 72 hours, or why it need not be told (Art. 33(1)).' })
  recordNotificationDelay(@Arg('id', () => ID) id: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: RequestContext) {
    return incidents.recordNotificationDelay(ctx, id, reason);
  }

  @Mutation(() => Incident, { description: 'Revokes the suspected token, or every token of the suspected member; recorded on the incident.' })
  revokeIncidentCredential(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return incidents.revokeIncidentCredential(ctx, id);
  }

  @Mutation(() => Incident, { description: 'Closes an incident with a summary of its effects and the remedial action taken; it stays on record.' })
  closeIncident(@Arg('id', () => ID) id: string, @Arg('summary', () => String) summary: string, @Ctx() ctx: RequestContext) {
    return incidents.closeIncident(ctx, id, summary);
  }

  @FieldResolver(() => SuspectKind)
  suspectKind(@Root() i: Incident) {
    return i.suspectPseudonym ? SuspectKind.MEMBER : SuspectKind.CREDENTIAL;
  }

  @FieldResolver(() => String, { nullable: true, description: 'CREDENTIAL: the suspected credential\'s id, as the access log records it.' })
  suspectCredentialId(@Root() i: Incident) {
    return i.suspectCredentialId;
  }

  @FieldResolver(() => ID, { nullable: true, description: 'MEMBER: the suspected member\'s pseudonym in the access log.' })
  suspectPseudonym(@Root() i: Incident) {
    return i.suspectPseudonym;
  }

  @FieldResolver(() => User, { nullable: true, description: 'The member suspected, or the member a suspected token signs in as; null when none or erased (administrators).' })
  async suspectMember(@Root() i: Incident, @Ctx() ctx: RequestContext) {
    const id = await ctx.loaders.suspectUserOfIncident.load(i.id);
    return id ? ctx.loaders.userById.load(id) : null;
  }

  @FieldResolver(() => User, { nullable: true, description: 'The administrator who opened it (administrators).' })
  openedBy(@Root() i: Incident, @Ctx() ctx: RequestContext) {
    return i.openedBy ? ctx.loaders.userById.load(i.openedBy) : null;
  }

  @FieldResolver(() => Boolean, { description: 'The authority deadline passed with neither a notification of the authority nor a recorded reason.' })
  overdue(@Root() i: Incident) {
    return incidents.isOverdue(i);
  }

  @FieldResolver(() => [IncidentNotification], { description: 'Every notification given, oldest first.' })
  notifications(@Root() i: Incident, @Ctx() ctx: RequestContext) {
    return ctx.loaders.notificationsOfIncident.load(i.id);
  }

  @FieldResolver(() => [IncidentHistoryEntry], { description: 'Every change to this record, oldest first.' })
  history(@Root() i: Incident): IncidentHistoryEntry[] {
    return i.history.map((h) => ({ action: h.action, at: new Date(h.at), byId: h.by }));
  }

  @FieldResolver(() => IncidentImpact, { description: 'What the suspect accessed in the window, computed from the access log.' })
  impact(@Root() i: Incident, @Ctx() ctx: RequestContext) {
    return incidents.impactOf(ctx, i);
  }

  @FieldResolver(() => IncidentAffectedSubjectConnection, { description: 'The people whose data the suspect touched, by pseudonym.' })
  affectedSubjects(@Root() i: Incident, @Args() args: PageArgs, @Ctx() ctx: RequestContext) {
    return incidents.affectedSubjects(ctx, i, args);
  }
}

@Resolver(() => IncidentHistoryEntry)
export class IncidentHistoryResolver {
  @FieldResolver(() => User, { nullable: true, description: 'The administrator who made the change (administrators).' })
  by(@Root() h: IncidentHistoryEntry, @Ctx() ctx: RequestContext) {
    return ctx.loaders.userById.load(h.byId);
  }
}

@Resolver(() => IncidentAffectedSubject)
export class IncidentAffectedSubjectResolver {
  @FieldResolver(() => User, { nullable: true, description: 'Who this is (administrators); null once erased.' })
  person(@Root() s: IncidentAffectedSubject, @Ctx() ctx: RequestContext) {
    return s.userId ? ctx.loaders.userById.load(s.userId) : null;
  }
}
