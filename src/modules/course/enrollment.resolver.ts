import { Args, Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { Enrollment } from './enrollment.entity';
import { Course } from './course.entity';
import { RecentPostsArgs } from './course.types';
import { User } from '../user/user.entity';
import { Post } from '../content/post.entity';
import type { RequestContext } from '../../server/context';

@Resolver(() => Enrollment)
export class EnrollmentResolver {
  @FieldResolver(() => User)
  async user(@Root() e: Enrollment, @Ctx() ctx: RequestContext) {
    return ctx.loaders.userById.load(e.userId);
  }

  @FieldResolver(() => Course)
  async course(@Root() e: Enrollment, @Ctx() ctx: RequestContext) {
    return ctx.loaders.courseById.load(e.courseId);
  }

  @FieldResolver(() => [Post], { description: 'The member\'s latest posts in this course, newest first.' })
  recentPosts(@Root() e: Enrollment, @Args() args: RecentPostsArgs, @Ctx() ctx: RequestContext) {
    return ctx.loaders.recentPostsOfMember(args.last).load(`${e.courseId}:${e.userId}`);
  }
}
