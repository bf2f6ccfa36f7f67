import { ArgsType, Field, Float, ID, ObjectType } from 'type-graphql';
import { IsOptional, Max, Min } from 'class-validator';
import { NoPersonalData, NotPersonal, Personal, PersonalData } from '../../privacy/classify';
import { connectionTypes, PageArgs } from '../../shared/pagination';

// Tree sizes and indexes are counts that may pass 2^31; GraphQL's Int is 32-bit, so they travel as Float
// (exact for every integer up to 2^53).

@NoPersonalData()
@ObjectType({ description: 'A signed tree head of the tenant\'s access log: RFC 6962 root over the first `treeSize` events, Ed25519-signed.' })
export class AuditCheckpoint {
  @Field(() => Float)
  treeSize!: number;

  @Field(() => String, { description: 'Merkle tree root, hex.' })
  root!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => String, { nullable: true, description: 'Hash of the previous checkpoint (SHA-256 of its signed bytes and signature), hex.' })
  previousHash!: string | null;

  @Field(() => String)
  keyId!: string;

  @Field(() => String, { description: 'Ed25519 signature over `signedText`, hex.' })
  signature!: string;

  @Field(() => String, { description: 'The exact text that was signed (format custos.checkpoint.v1).' })
  signedText!: string;
}

@NoPersonalData()
@ObjectType({ description: 'Proof that an access event is leaf `leafIndex` of the tree a checkpoint signs (RFC 6962 audit path).' })
export class AuditInclusionProof {
  @Field(() => ID)
  eventId!: string;

  @Field(() => Float)
  leafIndex!: number;

  @Field(() => Float)
  treeSize!: number;

  @Field(() => String, { description: 'The leaf\'s exact bytes (format custos.access_event.v1): hash them as SHA-256(0x00 || bytes).' })
  leafData!: string;

  @Field(() => String, { description: 'SHA-256(0x00 || leafData), hex.' })
  leafHash!: string;

  @Field(() => [String], { description: 'Audit path, hex, leaf to root.' })
  path!: string[];

  @Field(() => AuditCheckpoint)
  checkpoint!: AuditCheckpoint;
}

@NoPersonalData()
@ObjectType({ description: 'Proof that the tree at `toSize` extends the tree at `fromSize` (RFC 6962 consistency proof).' })
export class AuditConsistencyProof {
  @Field(() => Float)
  fromSize!: number;

  @Field(() => Float)
  toSize!: number;

  @Field(() => [String], { description: 'Consistency proof, hex.' })
  path!: string[];

  @Field(() => AuditCheckpoint)
  from!: AuditCheckpoint;

  @Field(() => AuditCheckpoint)
  to!: AuditCheckpoint;
}

@NoPersonalData()
@ObjectType({ description: 'A public key checkpoints are signed with.' })
export class AuditPublicKey {
  @Field(() => String)
  keyId!: string;

  @Field(() => String)
  algorithm!: string;

  @Field(() => String, { description: 'Raw 32-byte Ed25519 public key, base64.' })
  publicKey!: string;

  @Field(() => String)
  pem!: string;

  @Field(() => Date)
  createdAt!: Date;
}

/** One access to a person's data, as their access history shows it. */
@PersonalData({ subject: 'subjectUserId' })
@ObjectType({ description: 'One access to a person\'s data: when, by what kind of actor, for what purpose, which categories.' })
export class AccessRecord {
  /** Whose history this is (not exposed: it is the person asking, or the one an admin asked about). */
  subjectUserId!: string;

  @NotPersonal()
  @Field(() => ID, { description: 'The access event; ask for its inclusion proof to check it is in the sealed log.' })
  eventId!: string;

  @Personal('user.access_history')
  @Field(() => Date)
  occurredAt!: Date;

  @Personal('user.access_history')
  @Field(() => String, { description: 'READ, WRITE, DISCLOSE or DENY.' })
  accessKind!: string;

  @Personal('user.access_history')
  @Field(() => String)
  purpose!: string;

  @Personal('user.access_history')
  @Field(() => String, { description: 'USER, AUDITOR, SERVICE or SYSTEM.' })
  actorKind!: string;

  @Personal('user.access_history')
  @Field(() => String, { nullable: true, description: 'The acting member\'s role, when a member acted.' })
  actorRole!: string | null;

  @Personal('user.access_history')
  @Field(() => String, { description: 'The operation, e.g. Query.course.' })
  operation!: string;

  @Personal('user.access_history')
  @Field(() => [String], { description: 'The data categories of this person touched.' })
  categories!: string[];

  @Personal('user.access_history')
  @Field(() => String)
  outcome!: string;
}

export const AccessRecordConnection = connectionTypes(AccessRecord, 'AccessRecord');

@ArgsType()
export class CheckpointArgs {
  @Field(() => Float, { nullable: true, description: 'A checkpointed tree size; the latest when omitted.' })
  @IsOptional() @Min(1) @Max(Number.MAX_SAFE_INTEGER)
  treeSize?: number | null;
}

@ArgsType()
export class InclusionProofArgs extends CheckpointArgs {
  @Field(() => ID)
  eventId!: string;
}

@ArgsType()
export class ConsistencyProofArgs {
  @Field(() => Float)
  @Min(1) @Max(Number.MAX_SAFE_INTEGER)
  fromSize!: number;

  @Field(() => Float, { nullable: true, description: 'A checkpointed tree size; the latest when omitted.' })
  @IsOptional() @Min(1) @Max(Number.MAX_SAFE_INTEGER)
  toSize?: number | null;
}

@ArgsType()
export class AccessHistoryArgs extends PageArgs {
  @Field(() => ID)
  userId!: string;
}

// ---------------------------------------------------------------------------------------------
// The log itself, as administrators and auditors see it: pseudonymous.
// ---------------------------------------------------------------------------------------------

@NoPersonalData()
@ObjectType({ description: 'A person an access event was about, by their pseudonym in the log (never a name), with the categories touched.' })
export class AuditEventSubject {
  @Field(() => String)
  pseudonym!: string;

  @Field(() => [String])
  categories!: string[];
}

// Pseudonymous by construction: people appear only by their log pseudonym, which nothing here links to a name.
@NoPersonalData()
@ObjectType({ description: 'One access event of the tenant\'s log, pseudonymous: who (kind, role, pseudonym, credential), what, why, about whom (pseudonyms).' })
export class AuditEvent {
  @Field(() => ID)
  id!: string;

  @Field(() => Date)
  occurredAt!: Date;

  @Field(() => String, { description: 'READ, WRITE, DISCLOSE or DENY.' })
  accessKind!: string;

  @Field(() => String)
  purpose!: string;

  @Field(() => String, { description: 'query, mutation or system.' })
  operationType!: string;

  @Field(() => String, { description: 'The root field (or system step) as Type.field.' })
  operation!: string;

  @Field(() => String, { description: 'USER, SERVICE, AUDITOR or SYSTEM.' })
  actorKind!: string;

  @Field(() => String, { nullable: true })
  actorRole!: string | null;

  @Field(() => String, { nullable: true, description: 'The acting member\'s pseudonym in the log.' })
  actorPseudonym!: string | null;

  @Field(() => String, { nullable: true, description: 'The credential used (a token id, or a digest of an identity-provider token).' })
  credentialId!: string | null;

  @Field(() => String, { description: 'SUCCESS or DENIED.' })
  outcome!: string;

  @Field(() => [String], { description: 'Objects addressed, as Type:id (a tool a DISCLOSE went to: LtiTool:id).' })
  resources!: string[];

  @Field(() => Float)
  itemCount!: number;

  @Field(() => [AuditEventSubject])
  subjects!: AuditEventSubject[];

  @Field(() => Float, { nullable: true, description: 'Its leaf in the tenant\'s Merkle tree once sealed (prove it with auditInclusionProof).' })
  leafIndex!: number | null;
}

export const AuditEventConnection = connectionTypes(AuditEvent, 'AuditEvent');

@ArgsType()
export class AuditEventsArgs extends PageArgs {
  @Field(() => Date, { nullable: true, description: 'Events at or after this time (an auditor\'s window narrows it further).' })
  from?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Events before this time.' })
  until?: Date | null;

  @Field(() => String, { nullable: true, description: 'READ, WRITE, DISCLOSE or DENY.' })
  accessKind?: string | null;

  @Field(() => String, { nullable: true })
  purpose?: string | null;

  @Field(() => String, { nullable: true, description: 'The actor\'s role: ADMIN, INSTRUCTOR or STUDENT.' })
  actorRole?: string | null;

  @Field(() => String, { nullable: true, description: 'Events that touched this data category.' })
  category?: string | null;
}
