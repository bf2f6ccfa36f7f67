import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { User } from './user.entity';
import { CreateUserInput, UpdateMyProfileInput, UpdateUserInput, UsersArgs } from './user.inputs';
import * as users from './user.service';
import type { RequestContext } from '../../server/context';
import { CURSOR, connectionTypes, dateKey, PageArgs, pageRequest, toConnection } from '../../shared/pagination';
import { Enrollment } from '../course/enrollment.entity';
import { EnrollmentConnection } from '../course/course.types';

export const UserConnection = connectionTypes(User, 'User');

@Resolver(() => User)
export class UserResolver {
  @Query(() => UserConnection, { description: 'Members the caller may see, by family name.' })
  users(@Args() args: UsersArgs, @Ctx() ctx: RequestContext) {
    return users.listUsers(ctx, args);
  }

  @Query(() => User, { description: 'A member the caller may see; NOT_FOUND otherwise.' })
  user(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return users.getUser(ctx, id);
  }

  @Mutation(() => User)
  createUser(@Arg('input', () => CreateUserInput) input: CreateUserInput, @Ctx() ctx: RequestContext) {
    return users.createUser(ctx, input);
  }

  @Mutation(() => User)
  updateUser(@Arg('id', () => ID) id: string, @Arg('input', () => UpdateUserInput) input: UpdateUserInput, @Ctx() ctx: RequestContext) {
    return users.updateUser(ctx, id, input);
  }

  @Mutation(() => User, { description: 'Blocks sign-in and revokes every token of the member.' })
  deactivateUser(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return users.deactivateUser(ctx, id);
  }

  @Mutation(() => User, { description: 'Changes how the caller appears to others.' })
  updateMyProfile(@Arg('input', () => UpdateMyProfileInput) input: UpdateMyProfileInput, @Ctx() ctx: RequestContext) {
    return users.updateMyProfile(ctx, input);
  }

  @FieldResolver(() => EnrollmentConnection, {
    nullable: true,
    description: 'The member\'s enrollments; visible to the member and admins.',
  })
  async enrollments(@Root() user: User, @Args() args: PageArgs, @Ctx() ctx: RequestContext) {
    const page = pageRequest(args, ctx.config, CURSOR.byTime);
    const rows = await ctx.loaders.enrollmentsOfUser(page).load(user.id);
    return toConnection<Enrollment>(rows, page.first, (e) => [dateKey(e.createdAt), e.id]);
  }
}
