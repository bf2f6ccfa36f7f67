import { ArgsType, Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { NoPersonalData } from '../../privacy/classify';

// Reports carry pseudonyms, roles, categories, purposes and counts: never a name, an email or a value.
// A "role" is the acting member's role (ADMIN, INSTRUCTOR, STUDENT) or, when no member acted, the kind
// of actor (AUDITOR, SERVICE, SYSTEM). Days are UTC calendar days.

@ArgsType()
export class ReportRangeArgs {
  @Field(() => Date, { nullable: true, description: 'Start of the range (inclusive); open when omitted.' })
  from?: Date | null;

  @Field(() => Date, { nullable: true, description: 'End of the range (exclusive); open when omitted.' })
  until?: Date | null;
}

@ArgsType()
export class AccessSummaryArgs extends ReportRangeArgs {
  @Field(() => String, { nullable: true, description: 'Only this actor role: ADMIN, INSTRUCTOR, STUDENT, AUDITOR, SERVICE or SYSTEM.' })
  role?: string | null;

  @Field(() => String, { nullable: true, description: 'Only this data category (e.g. user.education.grade).' })
  category?: string | null;

  @Field(() => String, { nullable: true, description: 'Only this purpose (e.g. education.delivery).' })
  purpose?: string | null;
}

@ArgsType()
export class DeniedAttemptsArgs extends ReportRangeArgs {
  @Field(() => String, { nullable: true, description: 'Only this actor role: ADMIN, INSTRUCTOR, STUDENT, AUDITOR, SERVICE or SYSTEM.' })
  role?: string | null;

  @Field(() => String, { nullable: true, description: 'Only this purpose.' })
  purpose?: string | null;
}

@ArgsType()
export class PrivilegedAccessArgs extends ReportRangeArgs {
  @Field(() => String, { nullable: true, description: 'Only this data category.' })
  category?: string | null;

  @Field(() => String, { nullable: true, description: 'Only this purpose.' })
  purpose?: string | null;
}

@ArgsType()
export class DisclosuresArgs extends AccessSummaryArgs {}

@NoPersonalData()
@ObjectType({ description: 'Events of one day, access kind, actor role, purpose and data category.' })
export class AccessSummaryRow {
  @Field(() => String, { description: 'UTC day, YYYY-MM-DD.' })
  day!: string;

  @Field(() => String)
  role!: string;

  @Field(() => String, { nullable: true, description: 'The data category touched; null for events that touched no one\'s data (denials, reports).' })
  category!: string | null;

  @Field(() => String)
  purpose!: string;

  @Field(() => String, { description: 'READ, WRITE, DISCLOSE or DENY.' })
  accessKind!: string;

  @Field(() => Int, { description: 'Events that touched the category (an event touching two categories counts in both rows).' })
  events!: number;

  @Field(() => Int, { description: 'People touched in the category, summed over the events (one person in two events counts twice).' })
  subjects!: number;
}

@NoPersonalData()
@ObjectType({ description: 'Refused attempts by one actor and credential at one operation.' })
export class DeniedAttemptRow {
  @Field(() => ID, { nullable: true, description: 'The acting member\'s pseudonym; null when no member acted (auditor, service).' })
  actorPseudonym!: string | null;

  @Field(() => String, { description: 'USER, AUDITOR, SERVICE or SYSTEM.' })
  actorKind!: string;

  @Field(() => String)
  role!: string;

  @Field(() => String, { nullable: true, description: 'The credential used (api token id, or a digest of the identity provider\'s token).' })
  credentialId!: string | null;

  @Field(() => String, { description: 'The operation refused, e.g. Query.tokens.' })
  operation!: string;

  @Field(() => String)
  purpose!: string;

  @Field(() => Int)
  attempts!: number;

  @Field(() => Date)
  firstAt!: Date;

  @Field(() => Date)
  lastAt!: Date;
}

@NoPersonalData()
@ObjectType({ description: 'Administrators\' reads of students\' data: by administrator, credential, operation, purpose and category.' })
export class PrivilegedAccessRow {
  @Field(() => ID, { nullable: true, description: 'The administrator\'s pseudonym.' })
  actorPseudonym!: string | null;

  @Field(() => String, { nullable: true })
  credentialId!: string | null;

  @Field(() => String)
  operation!: string;

  @Field(() => String)
  purpose!: string;

  @Field(() => String)
  category!: string;

  @Field(() => Int, { description: 'Read events that touched students\' data in the category.' })
  events!: number;

  @Field(() => Int, { description: 'Students touched in the category, summed over the events.' })
  students!: number;

  @Field(() => Date)
  firstAt!: Date;

  @Field(() => Date)
  lastAt!: Date;
}

@NoPersonalData()
@ObjectType({ description: 'Personal data sent to one recipient (a tool), by category.' })
export class DisclosureRow {
  @Field(() => String, { description: 'The recipient as the log names it, e.g. LtiTool:<id>.' })
  recipient!: string;

  @Field(() => String, { nullable: true, description: 'The tool\'s name (institution data); null if the recipient is unknown.' })
  recipientName!: string | null;

  @Field(() => String)
  category!: string;

  @Field(() => Int, { description: 'Disclosures that carried the category.' })
  events!: number;

  @Field(() => Int, { description: 'People whose data in the category was sent, summed over the disclosures.' })
  subjects!: number;

  @Field(() => Date)
  firstAt!: Date;

  @Field(() => Date)
  lastAt!: Date;
}

@NoPersonalData()
@ObjectType({ description: 'Access summary over a range.' })
export class AccessSummaryReport {
  @Field(() => Date, { nullable: true, description: 'The range covered (after limiting it to an auditor\'s window).' })
  from!: Date | null;

  @Field(() => Date, { nullable: true })
  until!: Date | null;

  @Field(() => [AccessSummaryRow], { description: 'By day, role, category, purpose and access kind.' })
  rows!: AccessSummaryRow[];
}

@NoPersonalData()
@ObjectType({ description: 'Denied attempts over a range.' })
export class DeniedAttemptsReport {
  @Field(() => Date, { nullable: true })
  from!: Date | null;

  @Field(() => Date, { nullable: true })
  until!: Date | null;

  @Field(() => [DeniedAttemptRow], { description: 'Most attempts first.' })
  rows!: DeniedAttemptRow[];
}

@NoPersonalData()
@ObjectType({ description: 'Administrators\' reads of students\' data over a range.' })
export class PrivilegedAccessReport {
  @Field(() => Date, { nullable: true })
  from!: Date | null;

  @Field(() => Date, { nullable: true })
  until!: Date | null;

  @Field(() => [PrivilegedAccessRow], { description: 'Most events first.' })
  rows!: PrivilegedAccessRow[];
}

@NoPersonalData()
@ObjectType({ description: 'Disclosures to recipients over a range.' })
export class DisclosuresReport {
  @Field(() => Date, { nullable: true })
  from!: Date | null;

  @Field(() => Date, { nullable: true })
  until!: Date | null;

  @Field(() => [DisclosureRow], { description: 'By recipient, then category.' })
  rows!: DisclosureRow[];
}

@NoPersonalData()
@ObjectType({ description: 'Data-subject requests of one type (or all types) filed in the range, and how they were handled.' })
export class RequestComplianceRow {
  @Field(() => String, { nullable: true, description: 'ACCESS, RECTIFICATION, ERASURE, RESTRICTION; null: all types together.' })
  type!: string | null;

  @Field(() => Int)
  filed!: number;

  @Field(() => Int, { description: 'By status now.' })
  submitted!: number;

  @Field(() => Int)
  approved!: number;

  @Field(() => Int)
  inProgress!: number;

  @Field(() => Int)
  completed!: number;

  @Field(() => Int)
  rejected!: number;

  @Field(() => Int)
  cancelled!: number;

  @Field(() => Int)
  failed!: number;

  @Field(() => Int)
  expired!: number;

  @Field(() => Int, { description: 'Completed by `asOf`, by their due date.' })
  completedOnTime!: number;

  @Field(() => Int, { description: 'Completed by `asOf`, after their due date.' })
  completedLate!: number;

  @Field(() => Float, { nullable: true, description: 'completedOnTime / (completedOnTime + completedLate); null when none completed.' })
  onTimeShare!: number | null;

  @Field(() => Float, { nullable: true, description: 'Median days from filing to completion (of those completed by `asOf`).' })
  medianDaysToComplete!: number | null;

  @Field(() => Float, { nullable: true, description: '90th percentile of days from filing to completion (continuous).' })
  p90DaysToComplete!: number | null;

  @Field(() => Int, { description: 'Open at `asOf` and past their due date.' })
  overdue!: number;
}

@NoPersonalData()
@ObjectType({ description: 'A request open at `asOf` and past its due date. No subject: the request id only.' })
export class OverdueRequestRow {
  @Field(() => ID)
  requestId!: string;

  @Field(() => String)
  type!: string;

  @Field(() => String, { description: 'Its status now.' })
  status!: string;

  @Field(() => Date)
  filedAt!: Date;

  @Field(() => Date)
  dueAt!: Date;

  @Field(() => Float, { description: 'Days past the due date at `asOf`.' })
  daysOverdue!: number;
}

@NoPersonalData()
@ObjectType({ description: 'How the tenant\'s data-subject requests filed in a range were handled.' })
export class RequestComplianceReport {
  @Field(() => Date, { nullable: true })
  from!: Date | null;

  @Field(() => Date, { nullable: true })
  until!: Date | null;

  @Field(() => Date, { description: 'Completion and lateness are judged at this instant: the end of the range, or now when the range is open or ends later.' })
  asOf!: Date;

  @Field(() => [RequestComplianceRow], { description: 'One row per type (in type order), then the total (type null).' })
  rows!: RequestComplianceRow[];

  @Field(() => [OverdueRequestRow], { description: 'Most overdue first.' })
  overdue!: OverdueRequestRow[];
}

@NoPersonalData()
@ObjectType({ description: 'The state of the tenant\'s sealed access log: its latest checkpoint, what is not sealed yet, its last verification.' })
export class AuditChainStatus {
  @Field(() => Float, { nullable: true, description: 'Events in the tree of the latest checkpoint; null before any.' })
  treeSize!: number | null;

  @Field(() => Date, { nullable: true })
  checkpointAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'Root of the latest checkpoint, hex.' })
  root!: string | null;

  @Field(() => String, { nullable: true })
  keyId!: string | null;

  @Field(() => Float, { description: 'Committed events not sealed yet.' })
  unsealedEvents!: number;

  @Field(() => Date, { nullable: true })
  oldestUnsealedAt!: Date | null;

  @Field(() => Float, { description: 'Sealing lag: seconds since the oldest unsealed event (0 when everything is sealed).' })
  sealingLagSeconds!: number;

  @Field(() => Date, { nullable: true, description: 'When `custos audit verify` last checked this tenant; null if never.' })
  lastVerifiedAt!: Date | null;

  @Field(() => Boolean, { nullable: true })
  lastVerificationOk!: boolean | null;

  @Field(() => String, { nullable: true, description: 'The root cause it found (EDITED_EVENT, …); null when it passed.' })
  lastVerificationRootCause!: string | null;

  @Field(() => Int, { nullable: true })
  lastVerificationFailures!: number | null;

  @Field(() => Float, { nullable: true, description: 'Tree size it verified.' })
  lastVerifiedTreeSize!: number | null;
}
