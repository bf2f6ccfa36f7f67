import { ArgsType, Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { ArrayMaxSize, IsOptional, Length, Matches, Max, Min } from 'class-validator';
import { ApiToken, TokenKind, TokenStatus } from './api-token.entity';
import { connectionTypes, PageArgs } from '../../shared/pagination';
import { NoPersonalData } from '../../privacy/classify';

@InputType({ description: 'The events an auditor may see: occurred at or after `from` and before `until` (either may be left open).' })
export class AuditWindowInput {
  @Field(() => Date, { nullable: true })
  from?: Date | null;

  @Field(() => Date, { nullable: true })
  until?: Date | null;
}

@InputType({ description: 'A new bearer token. USER tokens name the member; SERVICE tokens name their scopes.' })
export class IssueTokenInput {
  @Field(() => TokenKind)
  kind!: TokenKind;

  @Field(() => ID, { nullable: true, description: 'The member a USER token signs in as.' })
  userId?: string | null;

  @Field(() => [String], { nullable: true, description: 'SERVICE only: "roster:read", "roster:import".' })
  @IsOptional() @ArrayMaxSize(16)
  scopes?: string[] | null;

  @Field(() => String, { description: 'What the token is for, e.g. "SIS nightly sync".' })
  @Length(1, 100) @Matches(/\S/, { message: 'label must not be blank' })
  label!: string;

  @Field(() => Int, { nullable: true, description: 'Days until it expires (AUDITOR at most 90).' })
  @IsOptional() @Min(1) @Max(3650)
  ttlDays?: number | null;

  @Field(() => AuditWindowInput, { nullable: true, description: 'AUDITOR only: limit the auditor to the events of a time window.' })
  auditWindow?: AuditWindowInput | null;
}

// The token itself is classified (ApiToken); issuing it is recorded as a write.
@NoPersonalData()
@ObjectType({ description: 'A token just issued: the secret is in this answer and nowhere else, ever.' })
export class IssuedTokenPayload {
  @Field(() => ApiToken)
  token!: ApiToken;

  @Field(() => String, { description: 'The bearer secret. Store it now; Custos keeps only its hash.' })
  secret!: string;
}

@ArgsType()
export class TokensArgs extends PageArgs {
  @Field(() => TokenKind, { nullable: true })
  kind?: TokenKind | null;

  @Field(() => ID, { nullable: true, description: 'Only the tokens of this member.' })
  userId?: string | null;

  @Field(() => TokenStatus, { nullable: true })
  status?: TokenStatus | null;
}

export const ApiTokenConnection = connectionTypes(ApiToken, 'ApiToken');
