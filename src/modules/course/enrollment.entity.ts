import { Entity, OptionalProps, Enum, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum CourseRole {
  INSTRUCTOR = 'INSTRUCTOR',
  STUDENT = 'STUDENT',
}
registerEnumType(CourseRole, { name: 'CourseRole', description: 'A member\'s role in one course.' });

/** A member's place in a course. Relations are plain ids: they are resolved in batches by DataLoaders. */
@ObjectType({ description: 'A member\'s enrollment in a course.' })
@Entity({ tableName: 'enrollment' })
export class Enrollment {
  [OptionalProps]?: 'createdAt' | 'finalGrade' | 'gradedAt';

  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @Property({ type: 'uuid' })
  courseId!: string;

  @Property({ type: 'uuid' })
  userId!: string;

  @Field(() => CourseRole)
  @Enum({ items: () => CourseRole, nativeEnumName: 'course_role' })
  role!: CourseRole;

  @Field(() => String, { nullable: true, description: 'Final grade; visible to the student, the course\'s instructors and admins.' })
  @Property({ type: 'string', nullable: true })
  finalGrade: string | null = null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  gradedAt: Date | null = null;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();
}
