import { ArgsType, Field, InputType, Int } from 'type-graphql';
import { IsOptional, Length, Matches, Max, MaxLength, Min } from 'class-validator';
import { Course, CourseStatus } from './course.entity';
import { CourseRole, Enrollment } from './enrollment.entity';
import { connectionTypes, PageArgs } from '../../shared/pagination';

export const CourseConnection = connectionTypes(Course, 'Course');
export const EnrollmentConnection = connectionTypes(Enrollment, 'Enrollment');

const NOT_BLANK = /\S/;

@InputType()
export class CreateCourseInput {
  @Field(() => String)
  @Length(1, 64) @Matches(/^[A-Za-z0-9][A-Za-z0-9 ._:-]*$/, { message: 'code may hold letters, digits, space, dot, colon, dash and underscore' })
  code!: string;

  @Field(() => String)
  @Length(1, 200) @Matches(NOT_BLANK, { message: 'title must not be blank' })
  title!: string;

  @Field(() => String, { nullable: true })
  @IsOptional() @MaxLength(10000)
  description?: string | null;
}

@InputType()
export class UpdateCourseInput {
  @Field(() => String, { nullable: true })
  @IsOptional() @Length(1, 64) @Matches(/^[A-Za-z0-9][A-Za-z0-9 ._:-]*$/, { message: 'code may hold letters, digits, space, dot, colon, dash and underscore' })
  code?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional() @Length(1, 200) @Matches(NOT_BLANK, { message: 'title must not be blank' })
  title?: string | null;

  @Field(() => String, { nullable: true, description: 'An empty string removes the description.' })
  @IsOptional() @MaxLength(10000)
  description?: string | null;
}

@ArgsType()
export class CoursesArgs extends PageArgs {
  @Field(() => CourseStatus, { nullable: true })
  status?: CourseStatus | null;

  @Field(() => String, { nullable: true, description: 'Matches code or title.' })
  @IsOptional() @MaxLength(100)
  search?: string | null;
}

@ArgsType()
export class RosterArgs extends PageArgs {
  @Field(() => CourseRole, { nullable: true })
  role?: CourseRole | null;
}

@ArgsType()
export class RecentPostsArgs {
  @Field(() => Int, { defaultValue: 3, description: 'How many of the latest posts (1 to 20).' })
  @Min(1) @Max(20)
  last!: number;
}
