import { Entity, Enum, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { NoPersonalData } from '../../privacy/classify';

export enum IncidentStatus {
  OPEN = 'OPEN',
  CLOSED = 'CLOSED',
}
registerEnumType(IncidentStatus, {
  name: 'IncidentStatus',
  description: 'OPEN while the breach is being handled; CLOSED once it is, with a summary. A closed incident is final and stays on record (GDPR Art. 33(5)).',
});

export enum SuspectKind {
  CREDENTIAL = 'CREDENTIAL',
  MEMBER = 'MEMBER',
}
registerEnumType(SuspectKind, {
  name: 'SuspectKind',
  description: 'CREDENTIAL: one bearer token (an API token id, or the `jwt:` digest of an identity-provider token), as the access log records it. '
    + 'MEMBER: everything a member did, whatever credential they used (the access log\'s actor pseudonym).',
});

export enum IncidentAction {
  OPENED = 'OPENED',
  UPDATED = 'UPDATED',
  AUTHORITY_NOTIFIED = 'AUTHORITY_NOTIFIED',
  SUBJECTS_NOTIFIED = 'SUBJECTS_NOTIFIED',
  DELAY_RECORDED = 'DELAY_RECORDED',
  CREDENTIAL_REVOKED = 'CREDENTIAL_REVOKED',
  CLOSED = 'CLOSED',
}
registerEnumType(IncidentAction, { name: 'IncidentAction', description: 'A change made to an incident record.' });

export interface StoredIncidentAction {
  action: IncidentAction;
  at: string;
  /** The administrator's user id. */
  by: string;
}

@NoPersonalData()
@ObjectType({ description: 'One change to an incident record: what, when, and (administrators only) by whom.' })
export class IncidentHistoryEntry {
  /** The administrator who made the change (the `by` field resolves them). */
  byId!: string;

  @Field(() => IncidentAction)
  action!: IncidentAction;

  @Field(() => Date)
  at!: Date;
}

/**
 * A personal-data breach and how it was handled. The record holds no one's personal data itself: the
 * suspect is an opaque credential id or a pseudonym, and the people involved are reached through
 * relations whose own fields are classified (the suspect member, the affected people). Its impact is
 * computed from the access log each time it is asked for (see incident.service.ts).
 */
@NoPersonalData()
@ObjectType({ description: 'A personal-data breach (GDPR Art. 33, 34): what was detected, whom and what it touched (computed from the access log), and how it was handled.' })
@Entity({ tableName: 'incident' })
export class Incident {
  [OptionalProps]?: 'history' | 'authorityNotifiedAt' | 'delayReason' | 'delayRecordedAt' | 'credentialRevokedAt' | 'revokedTokenCount' | 'closedAt' | 'closingSummary';

  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @Field(() => IncidentStatus)
  @Enum({ items: () => IncidentStatus, type: 'string' })
  status!: IncidentStatus;

  @Field(() => String, { description: 'What happened, as the institution knows it. Auditors read it too: describe the breach without naming people.' })
  @Property({ type: 'text' })
  description!: string;

  @Field(() => Date, { description: 'When the institution became aware of the breach.' })
  @Property({ type: 'datetime' })
  detectedAt!: Date;

  @Field(() => Date, { description: 'The supervisory authority must be told by then: 72 hours after detection (Art. 33(1)).' })
  @Property({ type: 'datetime' })
  authorityDueAt!: Date;

  @Property({ type: 'text', nullable: true })
  suspectCredentialId: string | null = null;

  @Property({ type: 'uuid', nullable: true })
  suspectPseudonym: string | null = null;

  @Field(() => Date, { description: 'Start of the window of events the impact covers (inclusive).' })
  @Property({ type: 'datetime' })
  windowFrom!: Date;

  @Field(() => Date, { description: 'End of the window of events the impact covers (exclusive).' })
  @Property({ type: 'datetime' })
  windowUntil!: Date;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  openedAt!: Date;

  @Property({ type: 'uuid', nullable: true })
  openedBy: string | null = null;

  @Field(() => Date, { nullable: true, description: 'When the supervisory authority was first told.' })
  @Property({ type: 'datetime', nullable: true })
  authorityNotifiedAt: Date | null = null;

  @Field(() => String, { nullable: true, description: 'Why the authority was or will be told after the 72 hours, or why it need not be told (Art. 33(1)).' })
  @Property({ type: 'text', nullable: true })
  delayReason: string | null = null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  delayRecordedAt: Date | null = null;

  @Field(() => Date, { nullable: true, description: 'When the suspect\'s credentials were revoked from this incident.' })
  @Property({ type: 'datetime', nullable: true })
  credentialRevokedAt: Date | null = null;

  @Field(() => Int, { nullable: true, description: 'How many bearer tokens that revocation stopped (0: they were already revoked).' })
  @Property({ type: 'integer', nullable: true })
  revokedTokenCount: number | null = null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  closedAt: Date | null = null;

  @Field(() => String, { nullable: true, description: 'How the breach was dealt with: its effects and the remedial action taken (Art. 33(5)).' })
  @Property({ type: 'text', nullable: true })
  closingSummary: string | null = null;

  @Property({ type: 'json' })
  history: StoredIncidentAction[] = [];

  @Property({ type: 'datetime' })
  updatedAt!: Date;
}
