import { Entity, Enum, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { NoPersonalData } from '../../privacy/classify';

/** How much of a person a launch tells a tool. */
export enum LtiPrivacyLevel {
  /** Nothing personal: only the opaque per-tool `sub`, the course role and the course. */
  ANONYMOUS = 'ANONYMOUS',
  /** And the person's names (given_name, family_name, name). */
  NAME_ONLY = 'NAME_ONLY',
  /** And the person's email instead of their names. */
  EMAIL_ONLY = 'EMAIL_ONLY',
  /** Names, email, picture and the institution's id for the person (lis.person_sourcedid). */
  PUBLIC = 'PUBLIC',
}
registerEnumType(LtiPrivacyLevel, {
  name: 'LtiPrivacyLevel',
  description: 'Which personal claims a launch of the tool carries: ANONYMOUS (none but an opaque id), NAME_ONLY, EMAIL_ONLY, PUBLIC.',
});

/**
 * A third-party tool (LTI 1.3 style) registered by an administrator. Institution data, not personal
 * data; members of a course see only its id, name and privacy level. Disabled rather than deleted, so
 * the access log's `LtiTool:<id>` recipients and exports keep their names.
 */
@NoPersonalData()
@ObjectType({ description: 'A third-party tool (LTI 1.3 style) that course members can launch.' })
@Entity({ tableName: 'lti_tool' })
export class LtiTool {
  [OptionalProps]?: 'createdAt' | 'updatedAt' | 'enabled' | 'notificationUrl';

  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @Field(() => String, { description: 'The name people see, and the recipient\'s name in exports and notices.' })
  @Property({ type: 'string' })
  name!: string;

  @Field(() => String, { description: 'The tool\'s OAuth client id: the `aud` of its id_tokens.' })
  @Property({ type: 'string' })
  clientId!: string;

  @Field(() => String, { description: 'Where launches go (`target_link_uri`): https, or http on localhost.' })
  @Property({ type: 'string' })
  launchUrl!: string;

  @Field(() => String, { nullable: true, description: 'Where Art. 19 notices are POSTed; without one, an administrator passes them on.' })
  @Property({ type: 'string', nullable: true })
  notificationUrl: string | null = null;

  @Field(() => LtiPrivacyLevel)
  @Enum({ items: () => LtiPrivacyLevel, type: 'string' })
  privacyLevel!: LtiPrivacyLevel;

  /** Keys the person's opaque `sub` at this tool (HMAC); never leaves the database. */
  @Property({ type: 'blob' })
  subSecret!: Buffer;

  @Field(() => Boolean, { description: 'Disabled tools cannot be launched; they stay listed as past recipients.' })
  @Property({ type: 'boolean' })
  enabled: boolean = true;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Field(() => Date)
  @Property({ type: 'datetime' })
  updatedAt: Date = new Date();
}
