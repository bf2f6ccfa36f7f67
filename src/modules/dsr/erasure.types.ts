import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { NoPersonalData, Personal, PersonalData } from '../../privacy/classify';
import type { ErasureAction } from '../../privacy/erasure-policy';

export enum ErasureActionKind {
  SCRUB = 'SCRUB',
  DELETE = 'DELETE',
  RETAIN = 'RETAIN',
}
registerEnumType(ErasureActionKind, { name: 'ErasureAction', description: 'SCRUB: replaced by a neutral value; DELETE: removed; RETAIN: kept, on a legal basis.' });

export const toActionKind = (a: ErasureAction) => ErasureActionKind[a];

@NoPersonalData()
@ObjectType({ description: 'What erasure does to one classified field (or a category with no field of its own).' })
export class ErasurePlanEntry {
  @Field(() => String, { description: 'Type.field, or (category) for data kept outside the API (e.g. the encrypted IP address).' })
  coordinate!: string;

  @Field(() => String)
  category!: string;

  @Field(() => ErasureActionKind)
  action!: ErasureActionKind;

  @Field(() => String)
  effect!: string;

  @Field(() => String, { nullable: true, description: 'RETAIN: the legal basis for keeping it.' })
  legalBasis!: string | null;
}

@PersonalData({ subject: 'userId' })
@ObjectType({ description: 'How many of the person\'s records erasure would touch.' })
export class ErasureRowCounts {
  userId!: string;

  @Personal('user.data_request') @Field(() => Int) posts!: number;
  @Personal('user.data_request') @Field(() => Int) comments!: number;
  @Personal('user.data_request') @Field(() => Int) reactions!: number;
  @Personal('user.data_request') @Field(() => Int) enrollments!: number;
  @Personal('user.data_request') @Field(() => Int) grades!: number;
  @Personal('user.data_request') @Field(() => Int) tokens!: number;
  @Personal('user.data_request') @Field(() => Int) requests!: number;
}

@PersonalData({ subject: 'userId' })
@ObjectType({ description: 'A dry run of erasing one person: every classified field and what would happen to it. Nothing is changed.' })
export class ErasurePlan {
  userId!: string;

  @Personal('user.data_request')
  @Field(() => [ErasurePlanEntry])
  entries!: ErasurePlanEntry[];

  @Personal('user.data_request')
  @Field(() => ErasureRowCounts)
  rows!: ErasureRowCounts;

  @Personal('user.data_request')
  @Field(() => Int, { description: 'Active legal holds: while any is, the purge waits.' })
  activeLegalHolds!: number;

  @Personal('user.data_request')
  @Field(() => Int, { description: 'Days between approval and the purge (the tenant\'s setting).' })
  graceDays!: number;
}

@NoPersonalData()
@ObjectType({ description: 'The signed deletion receipt of a completed erasure. It holds no personal data.' })
export class ErasureReceipt {
  @Field(() => String, { description: 'The receipt (JSON, format custos.erasure-receipt.v1).' })
  body!: string;

  @Field(() => String)
  keyId!: string;

  @Field(() => String, { description: 'Ed25519 signature, base64, over "custos.erasure-receipt.v1\\n" followed by `body`.' })
  signature!: string;
}
