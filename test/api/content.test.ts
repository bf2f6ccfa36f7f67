import { randomUUID } from 'node:crypto';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { countRows, seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import {
  ArchiveCourseDocument, CreateCommentDocument, CreatePostDocument, DeleteCommentDocument, DeletePostDocument,
  EditCommentDocument, EditPostDocument, FeedDocument, ReactDocument, UnreactDocument,
} from '../generated/graphql';
import type { Course } from '../../src/modules/course/course.entity';
import type { Post } from '../../src/modules/content/post.entity';
import type { Comment } from '../../src/modules/content/comment.entity';

/** Course content: members post, comment and react; authors edit; authors and moderators delete. */
describe('posts, comments and reactions', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let teacher: Member;
  let ann: Member;
  let ben: Member;
  let outsider: Member;
  let course: Course;
  let archived: Course;
  let archivedPost: Post;
  let archivedComment: Comment;

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm);
    admin = await school.admin();
    teacher = await school.instructor();
    ann = await school.student();
    ben = await school.student();
    outsider = await school.student();
    course = await school.course('Literature');
    await school.enroll(course, teacher);
    await school.enroll(course, ann);
    await school.enroll(course, ben);
    archived = await school.course('Old Literature');
    await school.enroll(archived, ann);
    [archivedPost] = await school.posts(archived, ann, 1);
    archivedComment = await school.comment(archivedPost, ann, 'Before the archive');
    await app.gql(ArchiveCourseDocument, { id: archived.id }, admin.token);
  });
  afterAll(() => app.close());

  const post = async (author: Member, body = 'Hello') => {
    const res = await app.gql(CreatePostDocument, { courseId: course.id, body }, author.token);
    expect(res.errors).toBeUndefined();
    return res.data!.createPost;
  };
  const comment = async (postId: string, author: Member, body = 'Nice') => {
    const res = await app.gql(CreateCommentDocument, { postId, body }, author.token);
    expect(res.errors).toBeUndefined();
    return res.data!.createComment;
  };

  describe('posting', () => {
    it('a student posts in their course; the post leads the feed that classmates read', async () => {
      const created = await post(ann, '  First thoughts  ');
      expect(created).toMatchObject({ body: 'First thoughts', author: { id: ann.user.id }, commentCount: 0, reactions: [], editedAt: null });
      const feed = await app.gql(FeedDocument, { courseId: course.id, first: 5 }, ben.token);
      expect(feed.data!.course.posts.edges[0].node).toMatchObject({ id: created.id, body: 'First thoughts', author: { displayName: ann.user.displayName } });
    });

    it('instructors and admins may post too (admins without being enrolled)', async () => {
      await post(teacher, 'Welcome');
      const byAdmin = await post(admin, 'Notice');
      expect(byAdmin.author.id).toBe(admin.user.id);
    });

    it('a student outside the course cannot post in it and gets NOT_FOUND, as for an unknown course', async () => {
      const before = await countRows(app.orm, 'post');
      const res = await app.gql(CreatePostDocument, { courseId: course.id, body: 'Let me in' }, outsider.token);
      expect(codes(res)).toEqual(['NOT_FOUND']);
      expect(codes(await app.gql(CreatePostDocument, { courseId: randomUUID(), body: 'x' }, outsider.token))).toEqual(['NOT_FOUND']);
      expect(codes(await app.gql(CreatePostDocument, { courseId: 'literature', body: 'x' }, outsider.token))).toEqual(['BAD_USER_INPUT']);
      expect(await countRows(app.orm, 'post')).toBe(before);
    });

    it.each([
      ['an empty body', ''],
      ['a blank body', ' \n\t '],
      ['a body over 20000 characters', 'x'.repeat(20001)],
    ])('refuses %s with BAD_USER_INPUT and writes nothing', async (_what, body) => {
      const before = await countRows(app.orm, 'post');
      const res = await app.gql(CreatePostDocument, { courseId: course.id, body }, ann.token);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors![0].message).toMatch(/body/);
      expect(await countRows(app.orm, 'post')).toBe(before);
    });

    it('an archived course stays readable but takes no posts, comments or reactions', async () => {
      const before = [await countRows(app.orm, 'post'), await countRows(app.orm, 'comment'), await countRows(app.orm, 'reaction')];
      const feed = await app.gql(FeedDocument, { courseId: archived.id }, ann.token);
      expect(feed.data!.course.posts.edges.map((e) => e.node.id)).toEqual([archivedPost.id]);
      for (const m of [ann, admin]) {
        const p = await app.gql(CreatePostDocument, { courseId: archived.id, body: 'Still here?' }, m.token);
        expect(codes(p)).toEqual(['BAD_USER_INPUT']);
        expect(p.errors![0].message).toMatch(/archived/);
        expect(codes(await app.gql(CreateCommentDocument, { postId: archivedPost.id, body: 'Hi' }, m.token))).toEqual(['BAD_USER_INPUT']);
        expect(codes(await app.gql(ReactDocument, { postId: archivedPost.id, kind: 'LIKE' }, m.token))).toEqual(['BAD_USER_INPUT']);
      }
      expect(codes(await app.gql(EditPostDocument, { id: archivedPost.id, body: 'Changed' }, ann.token))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await app.gql(EditCommentDocument, { id: archivedComment.id, body: 'Changed' }, ann.token))).toEqual(['BAD_USER_INPUT']);
      expect((await sql(app.orm, 'select body, edited_at from comment where id = ?', [archivedComment.id]))[0]).toEqual({ body: 'Before the archive', edited_at: null });
      expect([await countRows(app.orm, 'post'), await countRows(app.orm, 'comment'), await countRows(app.orm, 'reaction')]).toEqual(before);
      expect((await sql(app.orm, 'select body, edited_at from post where id = ?', [archivedPost.id]))[0]).toEqual({ body: archivedPost.body, edited_at: null });
    });
  });

  describe('editing and deleting posts', () => {
    it('only the author edits a post; the edit is marked', async () => {
      const p = await post(ann, 'Draft');
      for (const m of [ben, teacher, admin]) {
        expect(codes(await app.gql(EditPostDocument, { id: p.id, body: 'Vandalised' }, m.token))).toEqual(['FORBIDDEN']);
      }
      expect(codes(await app.gql(EditPostDocument, { id: p.id, body: 'Vandalised' }, outsider.token))).toEqual(['NOT_FOUND']);
      expect((await sql(app.orm, 'select body from post where id = ?', [p.id]))[0]).toEqual({ body: 'Draft' });
      const res = await app.gql(EditPostDocument, { id: p.id, body: 'Final' }, ann.token);
      expect(res.data!.editPost).toMatchObject({ body: 'Final' });
      expect(res.data!.editPost.editedAt).not.toBeNull();
      expect(codes(await app.gql(EditPostDocument, { id: p.id, body: '   ' }, ann.token))).toEqual(['BAD_USER_INPUT']);
      expect((await sql(app.orm, 'select body from post where id = ?', [p.id]))[0]).toEqual({ body: 'Final' });
    });

    it('a classmate cannot delete a post; the author, the course\'s instructor and an admin can', async () => {
      const [p1, p2, p3] = [await post(ann), await post(ann), await post(ann)];
      expect(codes(await app.gql(DeletePostDocument, { id: p1.id }, ben.token))).toEqual(['FORBIDDEN']);
      expect(codes(await app.gql(DeletePostDocument, { id: p1.id }, outsider.token))).toEqual(['NOT_FOUND']);
      expect(await countRows(app.orm, 'post', 'id = ?', [p1.id])).toBe(1);
      expect((await app.gql(DeletePostDocument, { id: p1.id }, ann.token)).data!.deletePost).toBe(p1.id);
      expect((await app.gql(DeletePostDocument, { id: p2.id }, teacher.token)).data!.deletePost).toBe(p2.id);
      expect((await app.gql(DeletePostDocument, { id: p3.id }, admin.token)).data!.deletePost).toBe(p3.id);
      expect(await countRows(app.orm, 'post', 'id in (?, ?, ?)', [p1.id, p2.id, p3.id])).toBe(0);
      expect(codes(await app.gql(DeletePostDocument, { id: p1.id }, ann.token))).toEqual(['NOT_FOUND']);
    });

    it('deleting a post deletes its comments and reactions', async () => {
      const p = await post(ann);
      await comment(p.id, ben);
      await comment(p.id, teacher);
      await app.gql(ReactDocument, { postId: p.id, kind: 'LIKE' }, ben.token);
      await app.gql(DeletePostDocument, { id: p.id }, teacher.token);
      expect(await countRows(app.orm, 'comment', 'post_id = ?', [p.id])).toBe(0);
      expect(await countRows(app.orm, 'reaction', 'post_id = ?', [p.id])).toBe(0);
    });
  });

  describe('comments', () => {
    it('members comment; comments are listed oldest first and counted', async () => {
      const p = await post(teacher, 'Question of the day');
      const c1 = await comment(p.id, ann, 'First');
      const c2 = await comment(p.id, ben, 'Second');
      expect(c1.author.id).toBe(ann.user.id);
      const feed = await app.gql(FeedDocument, { courseId: course.id, first: 1, commentsFirst: 10 }, ann.token);
      const node = feed.data!.course.posts.edges[0].node;
      expect(node.id).toBe(p.id);
      expect(node.commentCount).toBe(2);
      expect(node.comments.edges.map((e) => e.node.id)).toEqual([c1.id, c2.id]);
    });

    it('outsiders cannot comment; blank or over-long comments are refused; nothing is written', async () => {
      const p = await post(ann);
      expect(codes(await app.gql(CreateCommentDocument, { postId: p.id, body: 'Hi' }, outsider.token))).toEqual(['NOT_FOUND']);
      expect(codes(await app.gql(CreateCommentDocument, { postId: randomUUID(), body: 'Hi' }, ann.token))).toEqual(['NOT_FOUND']);
      expect(codes(await app.gql(CreateCommentDocument, { postId: p.id, body: '  ' }, ben.token))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await app.gql(CreateCommentDocument, { postId: p.id, body: 'x'.repeat(5001) }, ben.token))).toEqual(['BAD_USER_INPUT']);
      expect(await countRows(app.orm, 'comment', 'post_id = ?', [p.id])).toBe(0);
    });

    it('only the author edits a comment', async () => {
      const p = await post(ann);
      const c = await comment(p.id, ben, 'Original');
      for (const m of [ann, teacher, admin]) {
        expect(codes(await app.gql(EditCommentDocument, { id: c.id, body: 'Changed' }, m.token))).toEqual(['FORBIDDEN']);
      }
      expect(codes(await app.gql(EditCommentDocument, { id: c.id, body: 'Changed' }, outsider.token))).toEqual(['NOT_FOUND']);
      expect((await sql(app.orm, 'select body from comment where id = ?', [c.id]))[0]).toEqual({ body: 'Original' });
      const res = await app.gql(EditCommentDocument, { id: c.id, body: 'Better' }, ben.token);
      expect(res.data!.editComment.body).toBe('Better');
      expect(res.data!.editComment.editedAt).not.toBeNull();
    });

    it('the author, the course\'s instructor and an admin delete a comment; the post\'s author and classmates cannot', async () => {
      const p = await post(ann);
      const [c1, c2, c3] = [await comment(p.id, ben), await comment(p.id, ben), await comment(p.id, ben)];
      expect(codes(await app.gql(DeleteCommentDocument, { id: c1.id }, ann.token))).toEqual(['FORBIDDEN']);
      expect(codes(await app.gql(DeleteCommentDocument, { id: c1.id }, outsider.token))).toEqual(['NOT_FOUND']);
      expect(await countRows(app.orm, 'comment', 'post_id = ?', [p.id])).toBe(3);
      expect((await app.gql(DeleteCommentDocument, { id: c1.id }, ben.token)).data!.deleteComment).toBe(c1.id);
      expect((await app.gql(DeleteCommentDocument, { id: c2.id }, teacher.token)).data!.deleteComment).toBe(c2.id);
      expect((await app.gql(DeleteCommentDocument, { id: c3.id }, admin.token)).data!.deleteComment).toBe(c3.id);
      expect(await countRows(app.orm, 'comment', 'post_id = ?', [p.id])).toBe(0);
    });
  });

  describe('reactions', () => {
    it('reacting is counted per kind, once per member, and the caller sees their own reactions', async () => {
      const p = await post(teacher);
      await app.gql(ReactDocument, { postId: p.id, kind: 'LIKE' }, ann.token);
      const twice = await app.gql(ReactDocument, { postId: p.id, kind: 'LIKE' }, ann.token);
      expect(twice.data!.react.reactions).toEqual([{ kind: 'LIKE', count: 1, viewerHasReacted: true }]);
      const byBen = await app.gql(ReactDocument, { postId: p.id, kind: 'CELEBRATE' }, ben.token);
      expect(byBen.data!.react.reactions).toEqual(expect.arrayContaining([
        { kind: 'LIKE', count: 1, viewerHasReacted: false },
        { kind: 'CELEBRATE', count: 1, viewerHasReacted: true },
      ]));
      expect(await countRows(app.orm, 'reaction', 'post_id = ?', [p.id])).toBe(2);
      const undone = await app.gql(UnreactDocument, { postId: p.id, kind: 'LIKE' }, ann.token);
      expect(undone.data!.unreact.reactions).toEqual([{ kind: 'CELEBRATE', count: 1, viewerHasReacted: false }]);
      const again = await app.gql(UnreactDocument, { postId: p.id, kind: 'LIKE' }, ann.token);
      expect(again.errors).toBeUndefined();
    });

    it('outsiders cannot react or unreact; the post answers NOT_FOUND', async () => {
      const p = await post(ann);
      await app.gql(ReactDocument, { postId: p.id, kind: 'LIKE' }, ben.token);
      expect(codes(await app.gql(ReactDocument, { postId: p.id, kind: 'LIKE' }, outsider.token))).toEqual(['NOT_FOUND']);
      expect(codes(await app.gql(UnreactDocument, { postId: p.id, kind: 'LIKE' }, outsider.token))).toEqual(['NOT_FOUND']);
      expect(await countRows(app.orm, 'reaction', 'post_id = ?', [p.id])).toBe(1);
    });
  });

  describe('a document with several mutations', () => {
    it('one failing mutation does not undo the others', async () => {
      const before = await countRows(app.orm, 'post', 'course_id = ?', [course.id]);
      const res = await app.gql(
        `mutation($c: ID!) { ok: createPost(courseId: $c, input: { body: "kept" }) { id } bad: createPost(courseId: $c, input: { body: " " }) { id } }`,
        { c: course.id } as never, ann.token,
      );
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(await countRows(app.orm, 'post', 'course_id = ?', [course.id])).toBe(before + 1);
    });
  });
});
