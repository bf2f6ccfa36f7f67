import { Entity, OptionalProps, Enum, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { NotPersonal, PersonalData } from '../../privacy/classify';

export enum CourseStatus {
  ACTIVE = 'ACTIVE',
  ARCHIVED = 'ARCHIVED',
}
registerEnumType(CourseStatus, { name: 'CourseStatus' });

@PersonalData()
@ObjectType({ description: 'A course (a class section) of the tenant.' })
@Entity({ tableName: 'course' })
export class Course {
  [OptionalProps]?: 'createdAt' | 'updatedAt' | 'status' | 'description' | 'archivedAt';

  @NotPersonal()
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @NotPersonal()
  @Field(() => String, { description: 'Course code, unique in the tenant.' })
  @Property({ type: 'string' })
  code!: string;

  @NotPersonal()
  @Field(() => String)
  @Property({ type: 'string' })
  title!: string;

  @NotPersonal()
  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  description: string | null = null;

  @NotPersonal()
  @Field(() => CourseStatus)
  @Enum({ items: () => CourseStatus, nativeEnumName: 'course_status' })
  status: CourseStatus = CourseStatus.ACTIVE;

  @NotPersonal()
  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @NotPersonal()
  @Field(() => Date)
  @Property({ type: 'datetime' })
  updatedAt: Date = new Date();

  @NotPersonal()
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  archivedAt: Date | null = null;
}
