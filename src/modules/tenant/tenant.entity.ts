import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { NoPersonalData } from '../../privacy/classify';

/** An institution: the data controller whose members, courses and content Custos hosts. */
@NoPersonalData()
@ObjectType({ description: 'An institution (the data controller).' })
@Entity({ tableName: 'tenant' })
export class Tenant {
  [OptionalProps]?: 'createdAt';

  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Field(() => String)
  @Property({ type: 'string' })
  name!: string;

  @Field(() => String, { description: 'Short unique identifier used by the CLI and in URLs.' })
  @Property({ type: 'string', unique: true })
  slug!: string;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();
}
