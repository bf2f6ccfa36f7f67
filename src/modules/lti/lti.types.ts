import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { IsOptional, Length, Matches, MaxLength } from 'class-validator';
import { LtiPrivacyLevel, LtiTool } from './lti-tool.entity';
import { NoPersonalData } from '../../privacy/classify';

@InputType({ description: 'A third-party tool to register.' })
export class RegisterLtiToolInput {
  @Field(() => String)
  @Length(1, 100) @Matches(/\S/, { message: 'name must not be blank' })
  name!: string;

  @Field(() => String, { description: 'The OAuth client id the tool was given; the `aud` of its id_tokens. Unique in the tenant.' })
  @Length(1, 255) @Matches(/^[\x21-\x7e]+$/, { message: 'clientId must be printable ASCII without spaces' })
  clientId!: string;

  @Field(() => String, { description: 'https (http only on localhost); redirects are never followed.' })
  @MaxLength(2000)
  launchUrl!: string;

  @Field(() => String, { nullable: true, description: 'Where Art. 19 notices are POSTed: https (http only on localhost).' })
  @IsOptional() @MaxLength(2000)
  notificationUrl?: string | null;

  @Field(() => LtiPrivacyLevel)
  privacyLevel!: LtiPrivacyLevel;
}

@InputType({ description: 'Changes to a tool; omitted fields stay as they are. The client id cannot change (register a new tool).' })
export class UpdateLtiToolInput {
  @Field(() => String, { nullable: true })
  @IsOptional() @Length(1, 100) @Matches(/\S/, { message: 'name must not be blank' })
  name?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional() @MaxLength(2000)
  launchUrl?: string | null;

  @Field(() => String, { nullable: true, description: 'A new notification URL; an empty string removes it.' })
  @IsOptional() @MaxLength(2000)
  notificationUrl?: string | null;

  @Field(() => LtiPrivacyLevel, { nullable: true, description: 'Applies to launches from now on; what was sent stays sent.' })
  @IsOptional()
  privacyLevel?: LtiPrivacyLevel | null;

  @Field(() => Boolean, { nullable: true, description: 'false: no more launches; the tool stays listed as a past recipient.' })
  @IsOptional()
  enabled?: boolean | null;
}

// The id_token carries the launching person's claims; handing it over is recorded as the launch's
// DISCLOSE event (the categories sent, the tool as recipient), so the payload itself is not classified.
@NoPersonalData()
@ObjectType({ description: 'A launch: POST `id_token` as a form field to `launchUrl` (LTI 1.3 resource link launch).' })
export class LtiLaunch {
  @Field(() => ID)
  toolId!: string;

  @Field(() => String, { description: 'Where to POST the id_token (the target_link_uri).' })
  launchUrl!: string;

  @Field(() => String, { description: 'The signed id_token (RS256, `kid` in the header; keys at /.well-known/jwks.json).' })
  idToken!: string;

  @Field(() => Date, { description: 'When the id_token stops being valid (five minutes after issue).' })
  expiresAt!: Date;
}

export { LtiTool };
