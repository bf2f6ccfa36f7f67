import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { LtiTool } from './lti-tool.entity';
import { LtiLaunch, RegisterLtiToolInput, UpdateLtiToolInput } from './lti.types';
import * as lti from './lti.service';
import { Course } from '../course/course.entity';
import type { RequestContext } from '../../server/context';

@Resolver(() => LtiTool)
export class LtiToolResolver {
  @Query(() => [LtiTool], { description: 'The tenant\'s third-party tools, by name (administrators).' })
  ltiTools(@Ctx() ctx: RequestContext) {
    return lti.listTools(ctx);
  }

  @Mutation(() => LtiTool, { description: 'Registers a third-party tool (LTI 1.3 style) with its privacy level.' })
  registerLtiTool(@Arg('input', () => RegisterLtiToolInput) input: RegisterLtiToolInput, @Ctx() ctx: RequestContext) {
    return lti.registerTool(ctx, input);
  }

  @Mutation(() => LtiTool, { description: 'Changes a tool: name, URLs, privacy level, enabled.' })
  updateLtiTool(@Arg('id', () => ID) id: string, @Arg('input', () => UpdateLtiToolInput) input: UpdateLtiToolInput, @Ctx() ctx: RequestContext) {
    return lti.updateTool(ctx, id, input);
  }

  @Mutation(() => LtiTool, { description: 'Places a tool in a course, for its members to launch.' })
  attachLtiTool(@Arg('toolId', () => ID) toolId: string, @Arg('courseId', () => ID) courseId: string, @Ctx() ctx: RequestContext) {
    return lti.attachTool(ctx, toolId, courseId);
  }

  @Mutation(() => LtiTool, { description: 'Removes a tool from a course.' })
  detachLtiTool(@Arg('toolId', () => ID) toolId: string, @Arg('courseId', () => ID) courseId: string, @Ctx() ctx: RequestContext) {
    return lti.detachTool(ctx, toolId, courseId);
  }

  @Mutation(() => LtiLaunch, {
    description: 'Launches a tool placed in one of the caller\'s courses: a signed id_token with the claims the tool\'s privacy level allows. ' +
      'Recorded as a disclosure of the caller\'s data to the tool.',
  })
  launchLtiTool(
    @Arg('courseId', () => ID) courseId: string,
    @Arg('toolId', () => ID) toolId: string,
    @Arg('nonce', () => String, { description: 'The nonce of the tool\'s login request (1 to 255 visible ASCII characters).' }) nonce: string,
    @Ctx() ctx: RequestContext,
  ) {
    return lti.launchTool(ctx, courseId, toolId, nonce);
  }

  @FieldResolver(() => ID, { description: 'The LTI deployment_id of launches of this tool (its id).' })
  deploymentId(@Root() tool: LtiTool) {
    return tool.id;
  }

  @FieldResolver(() => [Course], { description: 'Courses the tool is placed in.' })
  async courses(@Root() tool: LtiTool, @Ctx() ctx: RequestContext) {
    const ids = (await ctx.loaders.coursesOfTool.load(tool.id)) as string[];
    const courses = await ctx.loaders.courseById.loadMany(ids);
    return courses.filter((c): c is Course => c !== null && !(c instanceof Error));
  }
}

@Resolver(() => Course)
export class CourseToolsResolver {
  @FieldResolver(() => [LtiTool], { description: 'Tools members of the course can launch (enabled, placed here), by name.' })
  tools(@Root() course: Course, @Ctx() ctx: RequestContext) {
    return ctx.loaders.toolsOfCourse.load(course.id);
  }
}
