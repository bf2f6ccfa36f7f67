import { Entity, OptionalProps, Enum, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { NotPersonal, Personal, PersonalData } from '../../privacy/classify';

export enum CourseRole {
  INSTRUCTOR = 'INSTRUCTOR',
  STUDENT = 'STUDENT',
}
registerEnumType(CourseRole, { name: 'CourseRole', description: 'A member\'s role in one course.' });

/** A member's place in a course. Relations are plain ids: they are resolved in batches by DataLoaders. */
@PersonalData({ subject: 'userId' })
@ObjectType({ description: 'A member\'s enrollment in a course.' })
@Entity({ tableName: 'enrollment' })
export class Enrollment {
  [OptionalProps]?: 'createdAt' | 'finalGrade' | 'gradedAt';

  @NotPersonal()
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @Property({ type: 'uuid' })
  courseId!: string;

  @Property({ type: 'uuid' })
  userId!: string;

  @Personal('user.education.enrollment')
  @Field(() => CourseRole)
  @Enum({ items: () => CourseRole, nativeEnumName: 'course_role' })
  role!: CourseRole;

  @Personal('user.education.grade')
  @Field(() => String, { nullable: true, description: 'Final grade; visible to the student, the course\'s instructors and admins.' })
  @Property({ type: 'string', nullable: true })
  finalGrade: string | null = null;

  @Personal('user.education.grade')
  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  gradedAt: Date | null = null;

  @Personal('user.education.enrollment')
  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();
}
