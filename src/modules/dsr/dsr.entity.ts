import { Entity, Enum, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { NotPersonal, Personal, PersonalData } from '../../privacy/classify';

/**
 * The rights a person can exercise through Custos. A type is listed here once Custos carries it out
 * end to end; the database already accepts all four (ACCESS, RECTIFICATION, ERASURE, RESTRICTION).
 */
export enum DataRequestType {
  ACCESS = 'ACCESS',
  RECTIFICATION = 'RECTIFICATION',
  ERASURE = 'ERASURE',
  RESTRICTION = 'RESTRICTION',
}
registerEnumType(DataRequestType, {
  name: 'DataRequestType',
  description: 'What the person asks for. ACCESS: a signed export of everything held about them, with who accessed it (GDPR Art. 15, ' +
    'FERPA 99.10). RECTIFICATION: correct inaccurate data (GDPR Art. 16, FERPA 99.20). ' +
    'ERASURE: erase the person\'s data, keeping only what a legal basis requires (GDPR Art. 17). ' +
    'RESTRICTION: keep the data but stop processing it; only the person and administrators see it until lifted (GDPR Art. 18).',
});

export enum DataRequestStatus {
  SUBMITTED = 'SUBMITTED',
  APPROVED = 'APPROVED',
  REJECTED = 'REJECTED',
  IN_PROGRESS = 'IN_PROGRESS',
  COMPLETED = 'COMPLETED',
  CANCELLED = 'CANCELLED',
  FAILED = 'FAILED',
  EXPIRED = 'EXPIRED',
}
registerEnumType(DataRequestStatus, {
  name: 'DataRequestStatus',
  description: 'SUBMITTED → APPROVED or REJECTED → IN_PROGRESS → COMPLETED; CANCELLED by the person before a decision; ' +
    'FAILED (an administrator may retry; work resumes where it stopped); EXPIRED once an export\'s download link is gone.',
});

/** Open requests: at most one per type and person. */
export const OPEN_STATUSES: readonly DataRequestStatus[] = [
  DataRequestStatus.SUBMITTED, DataRequestStatus.APPROVED, DataRequestStatus.IN_PROGRESS, DataRequestStatus.FAILED,
];

export enum TransitionActor {
  SUBJECT = 'SUBJECT',
  ADMIN = 'ADMIN',
  SYSTEM = 'SYSTEM',
}
registerEnumType(TransitionActor, { name: 'TransitionActor', description: 'Who moved a request: the person, an administrator, or Custos itself.' });

/** A member's profile field a rectification may correct. */
export enum RectifiableField {
  GIVEN_NAME = 'GIVEN_NAME',
  FAMILY_NAME = 'FAMILY_NAME',
  DISPLAY_NAME = 'DISPLAY_NAME',
  EMAIL = 'EMAIL',
  STUDENT_NUMBER = 'STUDENT_NUMBER',
}
registerEnumType(RectifiableField, { name: 'RectifiableField' });

@PersonalData({ subject: 'subjectId' })
@ObjectType({ description: 'One field a rectification corrects. `before` is filled in when the change is applied.' })
export class RectificationChange {
  /** Whose data (not a GraphQL field; the access log reads it). */
  subjectId!: string;

  @NotPersonal()
  @Field(() => RectifiableField)
  field!: RectifiableField;

  @Personal('user.data_request')
  @Field(() => String, { nullable: true })
  before!: string | null;

  @Personal('user.data_request')
  @Field(() => String, { nullable: true, description: 'The corrected value (null removes an optional value such as a student number).' })
  after!: string | null;
}

@PersonalData({ subject: 'subjectId' })
@ObjectType({ description: 'A status change of a request.' })
export class DataRequestTransition {
  subjectId!: string;

  @Personal('user.data_request')
  @Field(() => DataRequestStatus)
  status!: DataRequestStatus;

  @Personal('user.data_request')
  @Field(() => Date)
  at!: Date;

  @Personal('user.data_request')
  @Field(() => TransitionActor)
  by!: TransitionActor;
}

export interface StoredTransition {
  status: DataRequestStatus;
  at: string;
  by: TransitionActor;
}

export interface StoredChange {
  field: RectifiableField;
  before?: string | null;
  after: string | null;
}

/** A person's request under data-protection law, and everything about its handling (never in the access log). */
@PersonalData({ subject: 'subjectId' })
@ObjectType({ description: 'A data-subject request: access, rectification, erasure or restriction, and how it is being handled.' })
@Entity({ tableName: 'data_subject_request' })
export class DataSubjectRequest {
  [OptionalProps]?: 'filedOnBehalf' | 'attempts' | 'history' | 'progress';

  @NotPersonal()
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @Property({ type: 'uuid' })
  subjectId!: string;

  @Personal('user.data_request')
  @Field(() => DataRequestType)
  @Property({ type: 'string' })
  type!: DataRequestType;

  @Personal('user.data_request')
  @Field(() => DataRequestStatus)
  @Enum({ items: () => DataRequestStatus, type: 'string' })
  status!: DataRequestStatus;

  @Property({ type: 'uuid', nullable: true })
  filedBy: string | null = null;

  @Personal('user.data_request')
  @Field(() => Boolean, { description: 'Filed by an administrator on the person\'s behalf.' })
  @Property({ type: 'boolean' })
  filedOnBehalf = false;

  @Personal('user.data_request')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  note: string | null = null;

  @Property({ type: 'json', nullable: true })
  changes: StoredChange[] | null = null;

  @Personal('user.data_request')
  @Field(() => Date)
  @Property({ type: 'datetime' })
  filedAt!: Date;

  @Personal('user.data_request')
  @Field(() => Date, { description: 'When the answer is due: the tenant\'s response window from filing, plus any extension.' })
  @Property({ type: 'datetime' })
  dueAt!: Date;

  @Personal('user.data_request')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  extendedAt: Date | null = null;

  @Personal('user.data_request')
  @Field(() => Int, { nullable: true })
  @Property({ type: 'integer', nullable: true })
  extensionDays: number | null = null;

  @Personal('user.data_request')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  extensionReason: string | null = null;

  @Personal('user.data_request')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  decidedAt: Date | null = null;

  @Property({ type: 'uuid', nullable: true })
  decidedBy: string | null = null;

  @Personal('user.data_request')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  rejectionReason: string | null = null;

  @Personal('user.data_request')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  startedAt: Date | null = null;

  @Personal('user.data_request')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  completedAt: Date | null = null;

  @Personal('user.data_request')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  cancelledAt: Date | null = null;

  @Personal('user.data_request')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  failedAt: Date | null = null;

  @Personal('user.data_request')
  @Field(() => String, { nullable: true, description: 'Why the last attempt failed.' })
  @Property({ type: 'text', nullable: true })
  failure: string | null = null;

  @Personal('user.data_request')
  @Field(() => Date, { nullable: true, description: 'RESTRICTION: when an administrator lifted it (the person is told beforehand, Art. 18(3)).' })
  @Property({ type: 'datetime', nullable: true })
  liftedAt: Date | null = null;

  @Personal('user.data_request')
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  liftReason: string | null = null;

  @Personal('user.data_request')
  @Field(() => Date, { nullable: true, description: 'ERASURE: when the purge runs (approval plus the tenant\'s grace period).' })
  @Property({ type: 'datetime', nullable: true })
  purgeAfter: Date | null = null;

  @Personal('user.data_request')
  @Field(() => Date, { nullable: true, description: 'ERASURE: a legal hold has been blocking the purge since then.' })
  @Property({ type: 'datetime', nullable: true })
  heldSince: Date | null = null;

  /** ERASURE: the steps done (see erasure.ts). */
  @Property({ type: 'json' })
  progress: Record<string, unknown> = {};

  @Property({ type: 'integer' })
  attempts = 0;

  @Property({ type: 'json' })
  history: StoredTransition[] = [];

  @Property({ type: 'datetime' })
  updatedAt!: Date;
}
