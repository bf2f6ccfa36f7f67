import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType({ description: 'A comment on a post.' })
@Entity({ tableName: 'comment' })
export class Comment {
  [OptionalProps]?: 'createdAt' | 'editedAt';

  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @Property({ type: 'uuid' })
  postId!: string;

  @Property({ type: 'uuid' })
  authorId!: string;

  @Field(() => String)
  @Property({ type: 'text' })
  body!: string;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  editedAt: Date | null = null;
}
