import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Post } from './post.entity';
import { Comment } from './comment.entity';
import { Reaction, ReactionKind } from './reaction.entity';
import type { RequestContext } from '../../server/context';
import { Course, CourseStatus } from '../course/course.entity';
import { getCourse } from '../course/course.service';
import { badInput, forbidden, notFound, parseId } from '../../shared/errors';

/** Posting needs a seat in the course (or the admin role) and an open course. */
async function assertCanContribute(ctx: RequestContext, course: Course): Promise<void> {
  if (!ctx.access.isAdmin && !(await ctx.access.courseRoles()).has(course.id)) {
    throw forbidden('Only members of the course may post in it.');
  }
  if (course.status === CourseStatus.ARCHIVED) throw badInput('The course is archived.', 'courseId');
}

/** A post of a course the caller may read; NOT_FOUND otherwise. */
async function readablePost(ctx: RequestContext, em: EntityManager, rawId: string, field = 'id'): Promise<Post> {
  const post = await em.findOne(Post, { id: parseId(rawId, field), tenantId: ctx.tenantId });
  if (!post || !(await ctx.access.canReadCourse(post.courseId))) throw notFound('Post');
  return post;
}

/** Authors edit their own words; moderators (admins, the course's instructors) may also delete. */
async function canModerate(ctx: RequestContext, courseId: string): Promise<boolean> {
  return ctx.access.isAdmin || (await ctx.access.teaches(courseId));
}

const text = (s: string) => s.trim();

export async function createPost(ctx: RequestContext, courseId: string, body: string): Promise<Post> {
  const course = await getCourse(ctx, courseId, 'courseId');
  await assertCanContribute(ctx, course);
  return ctx.em.transactional(async (em) => {
    const post = em.create(Post, { id: randomUUID(), tenantId: ctx.tenantId, courseId: course.id, authorId: ctx.access.userId, body: text(body) });
    await em.flush();
    ctx.audit.wrote([post.authorId], ['user.content.private']);
    return post;
  });
}

export async function editPost(ctx: RequestContext, postId: string, body: string): Promise<Post> {
  return ctx.em.transactional(async (em) => {
    const post = await readablePost(ctx, em, postId);
    if (post.authorId !== ctx.access.userId) throw forbidden('Only the author may edit a post.');
    const course = await em.findOneOrFail(Course, { id: post.courseId, tenantId: ctx.tenantId });
    if (course.status === CourseStatus.ARCHIVED) throw badInput('The course is archived.', 'id');
    post.body = text(body);
    post.editedAt = new Date();
    await em.flush();
    ctx.audit.wrote([post.authorId], ['user.content.private']);
    return post;
  });
}

/** Deletes a post with its comments and reactions. Returns the deleted post's id. */
export async function deletePost(ctx: RequestContext, postId: string): Promise<string> {
  return ctx.em.transactional(async (em) => {
    const post = await readablePost(ctx, em, postId);
    if (post.authorId !== ctx.access.userId && !(await canModerate(ctx, post.courseId))) {
      throw forbidden('Only the author or a moderator may delete a post.');
    }
    const id = post.id;
    // The post takes its comments and reactions with it: their authors' data is deleted too.
    const commenters = await em.execute<{ author_id: string }[]>('select distinct author_id from comment where tenant_id = ? and post_id = ?', [ctx.tenantId, id]);
    const reactors = await em.execute<{ user_id: string }[]>('select distinct user_id from reaction where tenant_id = ? and post_id = ?', [ctx.tenantId, id]);
    em.remove(post);
    await em.flush();
    ctx.audit.wrote([post.authorId, ...commenters.map((c) => c.author_id)], ['user.content.private']);
    ctx.audit.wrote(reactors.map((r) => r.user_id), ['user.behavior.reaction']);
    return id;
  });
}

export async function createComment(ctx: RequestContext, postId: string, body: string): Promise<Comment> {
  return ctx.em.transactional(async (em) => {
    const post = await readablePost(ctx, em, postId, 'postId');
    const course = await em.findOneOrFail(Course, { id: post.courseId, tenantId: ctx.tenantId });
    await assertCanContribute(ctx, course);
    const comment = em.create(Comment, { id: randomUUID(), tenantId: ctx.tenantId, postId: post.id, authorId: ctx.access.userId, body: text(body) });
    await em.flush();
    ctx.audit.wrote([comment.authorId], ['user.content.private']);
    return comment;
  });
}

async function readableComment(ctx: RequestContext, em: EntityManager, rawId: string): Promise<{ comment: Comment; post: Post }> {
  const comment = await em.findOne(Comment, { id: parseId(rawId), tenantId: ctx.tenantId });
  if (!comment) throw notFound('Comment');
  const post = await em.findOneOrFail(Post, { id: comment.postId, tenantId: ctx.tenantId });
  if (!(await ctx.access.canReadCourse(post.courseId))) throw notFound('Comment');
  return { comment, post };
}

export async function editComment(ctx: RequestContext, commentId: string, body: string): Promise<Comment> {
  return ctx.em.transactional(async (em) => {
    const { comment, post } = await readableComment(ctx, em, commentId);
    if (comment.authorId !== ctx.access.userId) throw forbidden('Only the author may edit a comment.');
    const course = await em.findOneOrFail(Course, { id: post.courseId, tenantId: ctx.tenantId });
    if (course.status === CourseStatus.ARCHIVED) throw badInput('The course is archived.', 'id');
    comment.body = text(body);
    comment.editedAt = new Date();
    await em.flush();
    ctx.audit.wrote([comment.authorId], ['user.content.private']);
    return comment;
  });
}

export async function deleteComment(ctx: RequestContext, commentId: string): Promise<string> {
  return ctx.em.transactional(async (em) => {
    const { comment, post } = await readableComment(ctx, em, commentId);
    if (comment.authorId !== ctx.access.userId && !(await canModerate(ctx, post.courseId))) {
      throw forbidden('Only the author or a moderator may delete a comment.');
    }
    const id = comment.id;
    em.remove(comment);
    await em.flush();
    ctx.audit.wrote([comment.authorId], ['user.content.private']);
    return id;
  });
}

/** Adds the caller's reaction of a kind; reacting twice with the same kind changes nothing. */
export async function react(ctx: RequestContext, postId: string, kind: ReactionKind): Promise<Post> {
  return ctx.em.transactional(async (em) => {
    const post = await readablePost(ctx, em, postId, 'postId');
    const course = await em.findOneOrFail(Course, { id: post.courseId, tenantId: ctx.tenantId });
    await assertCanContribute(ctx, course);
    await em.execute(
      `insert into reaction (id, tenant_id, post_id, user_id, kind) values (?, ?, ?, ?, ?)
       on conflict (post_id, user_id, kind) do nothing`,
      [randomUUID(), ctx.tenantId, post.id, ctx.access.userId, kind],
    );
    ctx.audit.wrote([ctx.access.userId], ['user.behavior.reaction']);
    return post;
  });
}

/** Removes the caller's reaction of a kind, if any. */
export async function unreact(ctx: RequestContext, postId: string, kind: ReactionKind): Promise<Post> {
  return ctx.em.transactional(async (em) => {
    const post = await readablePost(ctx, em, postId, 'postId');
    await em.nativeDelete(Reaction, { tenantId: ctx.tenantId, postId: post.id, userId: ctx.access.userId, kind });
    ctx.audit.wrote([ctx.access.userId], ['user.behavior.reaction']);
    return post;
  });
}
