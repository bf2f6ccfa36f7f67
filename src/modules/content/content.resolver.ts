import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Resolver, Root } from 'type-graphql';
import { Post } from './post.entity';
import { Comment } from './comment.entity';
import { ReactionKind } from './reaction.entity';
import { CommentBodyInput, CommentConnection, PostBodyInput, ReactionSummary } from './content.types';
import * as content from './content.service';
import { User } from '../user/user.entity';
import type { RequestContext } from '../../server/context';
import { CURSOR, dateKey, PageArgs, pageRequest, toConnection } from '../../shared/pagination';
import { NotPersonal } from '../../privacy/classify';

@Resolver(() => Post)
export class PostResolver {
  @Mutation(() => Post)
  createPost(@Arg('courseId', () => ID) courseId: string, @Arg('input', () => PostBodyInput) input: PostBodyInput, @Ctx() ctx: RequestContext) {
    return content.createPost(ctx, courseId, input.body);
  }

  @Mutation(() => Post)
  editPost(@Arg('id', () => ID) id: string, @Arg('input', () => PostBodyInput) input: PostBodyInput, @Ctx() ctx: RequestContext) {
    return content.editPost(ctx, id, input.body);
  }

  @Mutation(() => ID, { description: 'Deletes a post with its comments and reactions; returns its id.' })
  deletePost(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return content.deletePost(ctx, id);
  }

  @Mutation(() => Post)
  react(@Arg('postId', () => ID) postId: string, @Arg('kind', () => ReactionKind) kind: ReactionKind, @Ctx() ctx: RequestContext) {
    return content.react(ctx, postId, kind);
  }

  @Mutation(() => Post)
  unreact(@Arg('postId', () => ID) postId: string, @Arg('kind', () => ReactionKind) kind: ReactionKind, @Ctx() ctx: RequestContext) {
    return content.unreact(ctx, postId, kind);
  }

  @FieldResolver(() => User)
  author(@Root() post: Post, @Ctx() ctx: RequestContext) {
    return ctx.loaders.userById.load(post.authorId);
  }

  @FieldResolver(() => CommentConnection, { description: 'Comments, oldest first.' })
  async comments(@Root() post: Post, @Args() args: PageArgs, @Ctx() ctx: RequestContext) {
    const page = pageRequest(args, ctx.config, CURSOR.byTime);
    const rows = await ctx.loaders.comments(page).load(post.id);
    return toConnection<Comment>(rows, page.first, (c) => [dateKey(c.createdAt), c.id]);
  }

  @NotPersonal()
  @FieldResolver(() => Int)
  commentCount(@Root() post: Post, @Ctx() ctx: RequestContext) {
    return ctx.loaders.commentCount.load(post.id);
  }

  @FieldResolver(() => [ReactionSummary], { description: 'Reaction counts by kind (kinds nobody used are left out).' })
  reactions(@Root() post: Post, @Ctx() ctx: RequestContext) {
    return ctx.loaders.reactions.load(post.id);
  }
}

@Resolver(() => Comment)
export class CommentResolver {
  @Mutation(() => Comment)
  createComment(@Arg('postId', () => ID) postId: string, @Arg('input', () => CommentBodyInput) input: CommentBodyInput, @Ctx() ctx: RequestContext) {
    return content.createComment(ctx, postId, input.body);
  }

  @Mutation(() => Comment)
  editComment(@Arg('id', () => ID) id: string, @Arg('input', () => CommentBodyInput) input: CommentBodyInput, @Ctx() ctx: RequestContext) {
    return content.editComment(ctx, id, input.body);
  }

  @Mutation(() => ID, { description: 'Deletes a comment; returns its id.' })
  deleteComment(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return content.deleteComment(ctx, id);
  }

  @FieldResolver(() => User)
  author(@Root() comment: Comment, @Ctx() ctx: RequestContext) {
    return ctx.loaders.userById.load(comment.authorId);
  }
}
