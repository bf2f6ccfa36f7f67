import DataLoader from 'dataloader';
import type { RequestContext } from './context';
import { User } from '../modules/user/user.entity';
import { Course } from '../modules/course/course.entity';
import { Enrollment } from '../modules/course/enrollment.entity';
import { Post } from '../modules/content/post.entity';
import { Comment } from '../modules/content/comment.entity';
import { ReactionKind } from '../modules/content/reaction.entity';
import { countByParent, fetchWindowed, type WindowedQuery } from '../db/windowed';
import type { CursorValue } from '../shared/pagination';
import type { LtiTool } from '../modules/lti/lti-tool.entity';
import { coursesOfTools, toolsOfCourses } from '../modules/lti/lti.service';
import { notificationsOfIncidents, suspectUsersOfIncidents } from '../modules/incident/incident.service';
import type { IncidentNotification } from '../modules/incident/incident.types';

export interface ReactionTally {
  kind: ReactionKind;
  count: number;
  viewerHasReacted: boolean;
}

/** A keyset "after" condition over the ordering columns, e.g. (t.created_at, t.id) < (?, ?). */
export interface Keyset {
  columns: string[];
  casts: string[];
  direction: 'asc' | 'desc';
}

export function keysetCondition(keyset: Keyset, after: CursorValue[] | null): { where: string[]; params: unknown[] } {
  if (!after) return { where: [], params: [] };
  const op = keyset.direction === 'asc' ? '>' : '<';
  const placeholders = keyset.casts.map((c) => `?::${c}`).join(', ');
  return { where: [`(${keyset.columns.join(', ')}) ${op} (${placeholders})`], params: after };
}

export interface ChildPage {
  first: number;
  after: CursorValue[] | null;
  /** Extra filter, part of the cache key. */
  filter?: { sql: string; params: unknown[] };
}

/**
 * One set of DataLoaders per request. Loaders for nested lists are keyed by their arguments too, so
 * every parent asking for the same page shape shares one batched statement.
 */
export class Loaders {
  private readonly byKey = new Map<string, DataLoader<string, unknown>>();

  constructor(private readonly ctx: RequestContext) {}

  private memo<V>(key: string, batch: (keys: readonly string[]) => Promise<Map<string, V>>, fallback: V): DataLoader<string, V> {
    let loader = this.byKey.get(key) as DataLoader<string, V> | undefined;
    if (!loader) {
      loader = new DataLoader<string, V>(async (keys) => {
        const found = await batch(keys);
        return keys.map((k) => found.get(k) ?? fallback);
      });
      this.byKey.set(key, loader as DataLoader<string, unknown>);
    }
    return loader;
  }

  private byIds<E extends { id: string }>(entity: new () => E, name: string) {
    return this.memo<E | null>(`${name}ById`, async (ids) => {
      await this.ctx.access.prepareRowChecks();
      const rows = await this.ctx.em.find(entity as never, { id: { $in: [...ids] }, tenantId: this.ctx.tenantId } as never);
      return new Map((rows as E[]).map((r) => [r.id, r]));
    }, null);
  }

  get userById() {
    return this.byIds(User, 'user');
  }

  get courseById() {
    return this.byIds(Course, 'course');
  }

  /** Enabled tools placed in a course. */
  get notificationsOfIncident() {
    return this.memo<IncidentNotification[]>('notificationsOfIncident', (ids) => notificationsOfIncidents(this.ctx.em, this.ctx.tenantId, ids), []);
  }

  get suspectUserOfIncident() {
    return this.memo<string | null>('suspectUserOfIncident', (ids) => suspectUsersOfIncidents(this.ctx.em, this.ctx.tenantId, ids), null);
  }

  get toolsOfCourse() {
    return this.memo<LtiTool[]>('toolsOfCourse', (ids) => toolsOfCourses(this.ctx.em, this.ctx.tenantId, ids), []);
  }

  /** Ids of the courses a tool is placed in. */
  get coursesOfTool() {
    return this.memo<string[]>('coursesOfTool', (ids) => coursesOfTools(this.ctx.em, this.ctx.tenantId, ids), []);
  }

  private windowed<E extends object>(
    name: string,
    entity: new () => E,
    base: Omit<WindowedQuery, 'parentIds' | 'tenantId' | 'limit' | 'where' | 'params'>,
    keyset: Keyset,
    page: ChildPage,
  ) {
    const key = `${name}:${JSON.stringify([page.first, page.after, page.filter ?? null])}`;
    return this.memo<E[]>(key, async (parentIds) => {
      await this.ctx.access.prepareRowChecks(); // the rows' fields are checked one by one, synchronously
      const after = keysetCondition(keyset, page.after);
      return fetchWindowed(this.ctx.em, entity, {
        ...base,
        parentIds,
        tenantId: this.ctx.tenantId,
        limit: page.first + 1, // one extra row tells whether a next page exists
        where: [...after.where, ...(page.filter ? [page.filter.sql] : [])],
        params: [...after.params, ...(page.filter?.params ?? [])],
      });
    }, []);
  }

  static readonly rosterKeyset: Keyset = {
    columns: ['t.role', 't.created_at', 't.id'], casts: ['course_role', 'timestamptz', 'uuid'], direction: 'asc',
  };

  /** Enrollments of many courses: instructors first, then in enrollment order. */
  roster(page: ChildPage) {
    return this.windowed('roster', Enrollment, {
      table: 'enrollment', parentColumn: 'course_id', orderBy: 't.role, t.created_at, t.id',
    }, Loaders.rosterKeyset, page);
  }

  static readonly enrollmentsOfUserKeyset: Keyset = {
    columns: ['t.created_at', 't.id'], casts: ['timestamptz', 'uuid'], direction: 'asc',
  };

  enrollmentsOfUser(page: ChildPage) {
    return this.windowed('enrollmentsOfUser', Enrollment, {
      table: 'enrollment', parentColumn: 'user_id', orderBy: 't.created_at, t.id',
    }, Loaders.enrollmentsOfUserKeyset, page);
  }

  static readonly feedKeyset: Keyset = {
    columns: ['t.created_at', 't.id'], casts: ['timestamptz', 'uuid'], direction: 'desc',
  };

  /** Newest posts first, for many courses. */
  feed(page: ChildPage) {
    return this.windowed('feed', Post, {
      table: 'post', parentColumn: 'course_id', orderBy: 't.created_at desc, t.id desc',
    }, Loaders.feedKeyset, page);
  }

  static readonly commentsKeyset: Keyset = {
    columns: ['t.created_at', 't.id'], casts: ['timestamptz', 'uuid'], direction: 'asc',
  };

  /** Oldest comments first, for many posts. */
  comments(page: ChildPage) {
    return this.windowed('comments', Comment, {
      table: 'comment', parentColumn: 'post_id', orderBy: 't.created_at, t.id',
    }, Loaders.commentsKeyset, page);
  }

  /** The latest `limit` posts of one member in one course; keyed by `courseId:userId`. */
  recentPostsOfMember(limit: number) {
    return this.memo<Post[]>(`recentPosts:${limit}`, async (keys) => {
      const pairs = keys.map((k) => k.split(':'));
      const rows = await this.ctx.em.execute<Record<string, unknown>[]>(
        `select * from (
           select p.*, row_number() over (partition by p.course_id, p.author_id order by p.created_at desc, p.id desc) as custos_rn
             from post p
            where p.tenant_id = ? and (p.course_id, p.author_id) in (select * from unnest(array[?]::uuid[], array[?]::uuid[]))
         ) w where w.custos_rn <= ?`,
        [this.ctx.tenantId, pairs.map((p) => p[0]), pairs.map((p) => p[1]), limit],
      );
      const out = new Map<string, Post[]>();
      for (const { custos_rn: _rank, ...data } of rows) {
        const post = this.ctx.em.map(Post, data);
        const key = `${post.courseId}:${post.authorId}`;
        out.set(key, [...(out.get(key) ?? []), post]);
      }
      for (const list of out.values()) list.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
      return out;
    }, []);
  }

  get commentCount() {
    return this.memo<number>('commentCount', (postIds) =>
      countByParent(this.ctx.em, { table: 'comment', parentColumn: 'post_id', parentIds: postIds, tenantId: this.ctx.tenantId }), 0);
  }

  rosterCount(filter?: { sql: string; params: unknown[] }) {
    return this.memo<number>(`rosterCount:${JSON.stringify(filter ?? null)}`, (courseIds) =>
      countByParent(this.ctx.em, {
        table: 'enrollment', parentColumn: 'course_id', parentIds: courseIds, tenantId: this.ctx.tenantId,
        where: filter ? [filter.sql] : [], params: filter?.params ?? [],
      }), 0);
  }

  /** Reaction counts per kind, and whether the caller reacted, for many posts in one statement. */
  get reactions() {
    return this.memo<ReactionTally[]>('reactions', async (postIds) => {
      const rows = await this.ctx.em.execute<{ post_id: string; kind: ReactionKind; n: string; mine: boolean }[]>(
        `select post_id, kind, count(*) as n, coalesce(bool_or(user_id = ?), false) as mine from reaction
          where tenant_id = ? and post_id in (?) group by post_id, kind order by post_id, kind`,
        [this.ctx.access.userIdOrNull, this.ctx.tenantId, [...postIds]],
      );
      const out = new Map<string, ReactionTally[]>();
      for (const r of rows) {
        out.set(r.post_id, [...(out.get(r.post_id) ?? []), { kind: r.kind, count: Number(r.n), viewerHasReacted: r.mine }]);
      }
      return out;
    }, []);
  }
}
