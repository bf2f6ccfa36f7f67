import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { IsOptional, MaxLength } from 'class-validator';
import { NoPersonalData, NotPersonal, Personal, PersonalData } from '../../privacy/classify';
import { connectionTypes, PageArgs } from '../../shared/pagination';
import { Incident, IncidentStatus } from './incident.entity';

export enum NotificationKind {
  AUTHORITY = 'AUTHORITY',
  SUBJECTS = 'SUBJECTS',
}
registerEnumType(NotificationKind, {
  name: 'NotificationKind',
  description: 'AUTHORITY: the supervisory authority was told (Art. 33). SUBJECTS: the people affected were told (Art. 34).',
});

@InputType({ description: 'Who or what is suspected: exactly one of the two.' })
export class IncidentSuspectInput {
  @Field(() => String, { nullable: true, description: 'A bearer token\'s id (ApiToken.id), or an identity-provider token\'s `jwt:` digest as the access log records it.' })
  @IsOptional() @MaxLength(64)
  credentialId?: string | null;

  @Field(() => ID, { nullable: true, description: 'A member: every event they made, whatever credential they used.' })
  userId?: string | null;
}

@InputType()
export class OpenIncidentInput {
  @Field(() => Date, { description: 'When the institution became aware of the breach; the 72-hour deadline runs from it. Not in the future.' })
  detectedAt!: Date;

  @Field(() => String, { description: 'What happened. Auditors read it: describe the breach without naming people.' })
  @MaxLength(4000)
  description!: string;

  @Field(() => IncidentSuspectInput)
  suspect!: IncidentSuspectInput;

  @Field(() => Date, { description: 'The events to look at start here (inclusive)…' })
  windowFrom!: Date;

  @Field(() => Date, { description: '…and end here (exclusive).' })
  windowUntil!: Date;
}

@InputType({ description: 'What to change on an open incident; omitted fields stay as they are.' })
export class UpdateIncidentInput {
  @Field(() => String, { nullable: true })
  @IsOptional() @MaxLength(4000)
  description?: string | null;

  @Field(() => Date, { nullable: true })
  windowFrom?: Date | null;

  @Field(() => Date, { nullable: true })
  windowUntil?: Date | null;
}

@InputType()
export class AuthorityNotificationInput {
  @Field(() => Date)
  notifiedAt!: Date;

  @Field(() => String, { description: 'The supervisory authority told.' })
  @MaxLength(200)
  authority!: string;

  @Field(() => String, { description: 'How: its online form, email, letter…' })
  @MaxLength(200)
  method!: string;

  @Field(() => String, { nullable: true, description: 'The authority\'s case number or other reference.' })
  @IsOptional() @MaxLength(200)
  reference?: string | null;

  @Field(() => String, { nullable: true, description: 'Required when told after the deadline and no reason was recorded yet (Art. 33(1)).' })
  @IsOptional() @MaxLength(4000)
  delayReason?: string | null;
}

@InputType()
export class SubjectNotificationInput {
  @Field(() => Date)
  notifiedAt!: Date;

  @Field(() => Int, { description: 'How many people were told.' })
  subjectCount!: number;

  @Field(() => String, { description: 'Who was addressed, e.g. "every affected student" or "the students of course BIO-101".' })
  @MaxLength(200)
  recipients!: string;

  @Field(() => String, { description: 'How: email, letter, a notice in the course…' })
  @MaxLength(200)
  method!: string;

  @Field(() => String, { nullable: true })
  @IsOptional() @MaxLength(200)
  reference?: string | null;
}

@ArgsType()
export class IncidentsArgs extends PageArgs {
  @Field(() => IncidentStatus, { nullable: true })
  status?: IncidentStatus | null;

  @Field(() => Boolean, { nullable: true, description: 'true: only incidents whose authority deadline passed with neither a notification nor a recorded reason.' })
  overdue?: boolean | null;
}

@NoPersonalData()
@ObjectType({ description: 'One notification about a breach: to the supervisory authority or to the people affected.' })
export class IncidentNotification {
  @Field(() => ID)
  id!: string;

  @Field(() => NotificationKind)
  kind!: NotificationKind;

  @Field(() => Date)
  notifiedAt!: Date;

  @Field(() => String, { description: 'AUTHORITY: the authority told; SUBJECTS: who was addressed.' })
  recipient!: string;

  @Field(() => String)
  method!: string;

  @Field(() => String, { nullable: true })
  reference!: string | null;

  @Field(() => Int, { nullable: true, description: 'SUBJECTS: how many people were told.' })
  subjectCount!: number | null;

  @Field(() => Date)
  recordedAt!: Date;
}

@NoPersonalData()
@ObjectType({ description: 'How many events of one access kind the suspect made in the window.' })
export class IncidentKindCount {
  @Field(() => String, { description: 'READ, WRITE or DISCLOSE.' })
  kind!: string;

  @Field(() => Int)
  events!: number;
}

@NoPersonalData()
@ObjectType({ description: 'A data category the suspect touched, and how many people\'s data of that category.' })
export class IncidentCategoryCount {
  @Field(() => String)
  category!: string;

  @Field(() => Int)
  subjects!: number;
}

@NoPersonalData()
@ObjectType({ description: 'How many distinct objects of one type the suspect\'s events named (Course, Post, LtiTool as a recipient…).' })
export class IncidentResourceCount {
  @Field(() => String)
  type!: string;

  @Field(() => Int)
  count!: number;
}

/**
 * What a breach touched, counted from the access log: the suspect's READ, WRITE and DISCLOSE events in
 * the window (DENY events are counted apart: nothing was accessed). Counts only, no one named.
 */
@NoPersonalData()
@ObjectType({ description: 'What the suspect accessed in the window, from the access log: READ, WRITE and DISCLOSE events (refusals are not access and are counted apart).' })
export class IncidentImpact {
  @Field(() => Date, { description: 'The window counted: the incident\'s, narrowed to an auditor\'s own window where they have one.' })
  from!: Date;

  @Field(() => Date)
  until!: Date;

  @Field(() => Boolean, { description: 'The caller\'s audit window cut the incident\'s window: these figures cover part of it.' })
  clamped!: boolean;

  @Field(() => Int, { description: 'People whose data was touched (distinct pseudonyms), erased people included.' })
  subjectCount!: number;

  @Field(() => Int, { description: 'Of those, people erased since: counted, but nothing links their pseudonym to anyone, so they cannot be listed by name.' })
  erasedSubjectCount!: number;

  @Field(() => [IncidentCategoryCount], { description: 'Every category touched (the union over the people), with how many people\'s data of it.' })
  categories!: IncidentCategoryCount[];

  @Field(() => Int, { description: 'Records: access events that read, changed or disclosed personal data.' })
  eventCount!: number;

  @Field(() => [IncidentKindCount])
  eventsByKind!: IncidentKindCount[];

  @Field(() => Int, { description: 'Records: distinct objects those events named.' })
  resourceCount!: number;

  @Field(() => [IncidentResourceCount])
  resourcesByType!: IncidentResourceCount[];

  @Field(() => [String], { description: 'Those objects as Type:id, sorted, at most 1000 (resourceCount has them all).' })
  resources!: string[];

  @Field(() => Int, { description: 'Attempts the suspect made that were refused (DENY): not part of the impact, but telling.' })
  deniedAttempts!: number;

  @Field(() => String, { nullable: true, description: 'Says when some affected people cannot be listed by name, and why.' })
  note!: string | null;
}

/**
 * One person the suspect's events touched. Pseudonymous for auditors; for administrators `person`
 * resolves who it is. The facts are a slice of the person's access history, so reading them for a
 * person who can be named is an access event about that person.
 */
@PersonalData({ subject: 'userId' })
@ObjectType({ description: 'One person whose data the suspect touched: their pseudonym, what of theirs was touched and when; `person` (administrators) says who it is.' })
export class IncidentAffectedSubject {
  /** The member behind the pseudonym; null once erased, and never looked up for auditors. */
  userId!: string | null;

  @NotPersonal()
  @Field(() => ID, { description: 'The person\'s pseudonym in the access log.' })
  pseudonym!: string;

  @NotPersonal()
  @Field(() => Boolean, { description: 'Erased since: nothing links this pseudonym to anyone any more.' })
  erased!: boolean;

  @Personal('user.access_history')
  @Field(() => [String], { description: 'Categories of this person\'s data the suspect touched.' })
  categories!: string[];

  @Personal('user.access_history')
  @Field(() => Int, { description: 'The suspect\'s events that touched this person.' })
  eventCount!: number;

  @Personal('user.access_history')
  @Field(() => Date)
  firstAccessAt!: Date;

  @Personal('user.access_history')
  @Field(() => Date)
  lastAccessAt!: Date;
}

export const IncidentConnection = connectionTypes(Incident, 'Incident');
export const IncidentAffectedSubjectConnection = connectionTypes(IncidentAffectedSubject, 'IncidentAffectedSubject');
