import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Course } from './course.entity';
import { CourseRole, Enrollment } from './enrollment.entity';
import { CourseConnection, CoursesArgs, CreateCourseInput, EnrollmentConnection, RosterArgs, UpdateCourseInput } from './course.types';
import * as courses from './course.service';
import type { RequestContext } from '../../server/context';
import { CURSOR, dateKey, PageArgs, pageRequest, toConnection } from '../../shared/pagination';
import { Post } from '../content/post.entity';
import { PostConnection } from '../content/content.types';
import { CALLER, NotPersonal, Personal } from '../../privacy/classify';

@Resolver(() => Course)
export class CourseResolver {
  @Query(() => CourseConnection, { description: 'Courses the caller may see, by code.' })
  courses(@Args() args: CoursesArgs, @Ctx() ctx: RequestContext) {
    return courses.listCourses(ctx, args);
  }

  @Query(() => Course, { description: 'A course the caller may see; NOT_FOUND otherwise.' })
  course(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return courses.getCourse(ctx, id);
  }

  @Mutation(() => Course)
  createCourse(@Arg('input', () => CreateCourseInput) input: CreateCourseInput, @Ctx() ctx: RequestContext) {
    return courses.createCourse(ctx, input);
  }

  @Mutation(() => Course)
  updateCourse(@Arg('id', () => ID) id: string, @Arg('input', () => UpdateCourseInput) input: UpdateCourseInput, @Ctx() ctx: RequestContext) {
    return courses.updateCourse(ctx, id, input);
  }

  @Mutation(() => Course, { description: 'Closes a course to new content and enrollments; it stays readable.' })
  archiveCourse(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return courses.archiveCourse(ctx, id);
  }

  @Mutation(() => Enrollment)
  enroll(
    @Arg('courseId', () => ID) courseId: string,
    @Arg('userId', () => ID) userId: string,
    @Arg('role', () => CourseRole) role: CourseRole,
    @Ctx() ctx: RequestContext,
  ) {
    return courses.enroll(ctx, courseId, userId, role);
  }

  @Mutation(() => ID, { description: 'Removes a member from a course; returns the removed enrollment\'s id.' })
  unenroll(@Arg('courseId', () => ID) courseId: string, @Arg('userId', () => ID) userId: string, @Ctx() ctx: RequestContext) {
    return courses.unenroll(ctx, courseId, userId);
  }

  @Mutation(() => Enrollment, { description: 'Sets a student\'s final grade; null clears it.' })
  setGrade(
    @Arg('courseId', () => ID) courseId: string,
    @Arg('userId', () => ID) userId: string,
    @Arg('grade', () => String, { nullable: true }) grade: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return courses.setGrade(ctx, courseId, userId, grade ?? null);
  }

  @Personal('user.education.enrollment', { subject: CALLER })
  @FieldResolver(() => CourseRole, { nullable: true, description: 'The caller\'s role in this course, if enrolled.' })
  async viewerRole(@Root() course: Course, @Ctx() ctx: RequestContext) {
    return (await ctx.access.courseRoles()).get(course.id) ?? null;
  }

  @NotPersonal()
  @FieldResolver(() => Int, { description: 'Number of enrolled members.' })
  memberCount(@Root() course: Course, @Ctx() ctx: RequestContext) {
    return ctx.loaders.rosterCount().load(course.id);
  }

  @FieldResolver(() => EnrollmentConnection, { description: 'Members of the course: instructors first, then by enrollment.' })
  async roster(@Root() course: Course, @Args() args: RosterArgs, @Ctx() ctx: RequestContext) {
    const page = pageRequest(args, ctx.config, CURSOR.roster);
    const rows = await ctx.loaders
      .roster({ ...page, filter: args.role ? { sql: 't.role = ?', params: [args.role] } : undefined })
      .load(course.id);
    return toConnection<Enrollment>(rows, page.first, (e) => [e.role, dateKey(e.createdAt), e.id]);
  }

  @FieldResolver(() => PostConnection, { description: 'The course feed, newest first.' })
  async posts(@Root() course: Course, @Args() args: PageArgs, @Ctx() ctx: RequestContext) {
    const page = pageRequest(args, ctx.config, CURSOR.byTime);
    const rows = await ctx.loaders.feed(page).load(course.id);
    return toConnection<Post>(rows, page.first, (p) => [dateKey(p.createdAt), p.id]);
  }
}
