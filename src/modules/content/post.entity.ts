import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { NotPersonal, Personal, PersonalData } from '../../privacy/classify';

@PersonalData({ subject: 'authorId' })
@ObjectType({ description: 'A post in a course feed.' })
@Entity({ tableName: 'post' })
export class Post {
  [OptionalProps]?: 'createdAt' | 'editedAt';

  @NotPersonal()
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @Property({ type: 'uuid' })
  courseId!: string;

  @Property({ type: 'uuid' })
  authorId!: string;

  @Personal('user.content.private')
  @Field(() => String)
  @Property({ type: 'text' })
  body!: string;

  @Personal('user.content.private')
  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Personal('user.content.private')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  editedAt: Date | null = null;
}
