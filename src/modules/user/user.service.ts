import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { RecordSource, User, UserRole, UserStatus } from './user.entity';
import type { CreateUserInput, UpdateMyProfileInput, UpdateUserInput, UsersArgs } from './user.inputs';
import type { RequestContext } from '../../server/context';
import type { Access } from '../../auth/access';
import { badInput, duplicate, notFound, parseId } from '../../shared/errors';
import { CURSOR, pageRequest, toConnection, type ConnectionShape } from '../../shared/pagination';
import { onUniqueViolation } from '../../db/constraints';
import { revokeTokensOfUser } from '../token/token.service';

const UNIQUE_ERRORS = {
  app_user_tenant_id_email_key: () => duplicate('Another member of this tenant has this email.', 'email'),
  app_user_tenant_id_student_number_key: () => duplicate('Another member of this tenant has this student number.', 'studentNumber'),
};

/** SQL condition on `u` limiting members to those the caller may list (see the role matrix). */
function visibleMembers(access: Access): { sql: string; params: unknown[] } {
  if (access.readsWholeDirectory) return { sql: 'true', params: [] };
  if (access.isInstructor) {
    return {
      sql: `u.id in (select s.user_id from enrollment s join enrollment i on i.course_id = s.course_id
                      where i.user_id = ? and i.role = 'INSTRUCTOR' and s.role = 'STUDENT')`,
      params: [access.userId],
    };
  }
  return {
    sql: `u.id = ? or u.id in (select o.user_id from enrollment o join enrollment m on m.course_id = o.course_id where m.user_id = ?)`,
    params: [access.userId, access.userId],
  };
}

/** `%` and `_` in the caller's text are literal characters, not patterns. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const normalizeEmail = (email: string) => email.trim().toLowerCase();
const clean = (s: string) => s.trim().replace(/\s+/g, ' ');

/** Lists members the caller may see, by family name, with optional role filter and search. */
export async function listUsers(ctx: RequestContext, args: UsersArgs): Promise<ConnectionShape<User>> {
  const { first, after } = pageRequest(args, ctx.config, CURSOR.byId);
  const access = ctx.access;
  const scope = visibleMembers(access);
  const where = ['u.tenant_id = ?', `(${scope.sql})`];
  const params: unknown[] = [ctx.tenantId, ...scope.params];
  if (args.role) {
    where.push('u.role = ?');
    params.push(args.role);
  }
  const search = args.search?.trim();
  if (search) {
    const pattern = likePattern(search);
    // Students see classmates' display names only, so they may not search other fields (no oracle).
    if (access.readsWholeDirectory || access.isInstructor) {
      where.push(`(u.given_name || ' ' || u.family_name ilike ? or u.display_name ilike ? or u.email ilike ?)`);
      params.push(pattern, pattern, pattern);
    } else {
      where.push('u.display_name ilike ?');
      params.push(pattern);
    }
  }
  if (after) {
    // The cursor names only the last row's id; its sort key is read back here, so no names travel in cursors.
    where.push(`(u.family_name, u.given_name, u.id) > (select c.family_name, c.given_name, c.id from app_user c where c.id = ?::uuid and c.tenant_id = ?)`);
    params.push(after[0], ctx.tenantId);
  }
  await access.prepareRowChecks();
  const rows = await ctx.em.execute<Record<string, unknown>[]>(
    `select u.* from app_user u where ${where.join(' and ')} order by u.family_name, u.given_name, u.id limit ?`,
    [...params, first + 1],
  );
  return toConnection(rows.map((r) => ctx.em.map(User, r as never)), first, (u) => [u.id]);
}

/** One member the caller may see; a member outside the caller's view answers exactly like a missing one. */
export async function getUser(ctx: RequestContext, rawId: string): Promise<User> {
  const id = parseId(rawId);
  const scope = visibleMembers(ctx.access);
  const rows = await ctx.em.execute<Record<string, unknown>[]>(
    `select u.* from app_user u where u.tenant_id = ? and u.id = ? and (${scope.sql})`,
    [ctx.tenantId, id, ...scope.params],
  );
  if (!rows[0]) throw notFound('User');
  return ctx.em.map(User, rows[0] as never);
}

/** A member of the tenant with this id exists (another tenant's id answers exactly like a missing one). */
export async function requireMember(em: EntityManager, tenantId: string, userId: string): Promise<void> {
  const [member] = await em.execute('select 1 from app_user where tenant_id = ? and id = ?', [tenantId, userId]);
  if (!member) throw notFound('User');
}

/** Loads a member of the caller's tenant for an administrative change. */
export async function findMemberForAdmin(em: EntityManager, tenantId: string, rawId: string, field = 'id'): Promise<User> {
  const user = await em.findOne(User, { id: parseId(rawId, field), tenantId });
  if (!user) throw notFound('User');
  return user;
}

async function assertUnique(em: EntityManager, tenantId: string, email: string | null, studentNumber: string | null, exceptId?: string) {
  if (email) {
    const clash = await em.findOne(User, { tenantId, email, id: { $ne: exceptId ?? null } }, { fields: ['id'] });
    if (clash) throw UNIQUE_ERRORS.app_user_tenant_id_email_key();
  }
  if (studentNumber) {
    const clash = await em.findOne(User, { tenantId, studentNumber, id: { $ne: exceptId ?? null } }, { fields: ['id'] });
    if (clash) throw UNIQUE_ERRORS.app_user_tenant_id_student_number_key();
  }
}

/** Creates a member (administrators only). */
export async function createUser(ctx: RequestContext, input: CreateUserInput): Promise<User> {
  ctx.access.requireAdmin();
  const user = await createMember(ctx.em, ctx.tenantId, input);
  ctx.audit.wrote([user.id], [
    'user.name', 'user.contact.email', 'user.account',
    ...(user.studentNumber ? ['user.unique_id.student_number' as const] : []),
    ...(user.avatarUrl ? ['user.content.self_image' as const] : []),
  ]);
  return user;
}

/** Creates a member in a tenant; shared by the API, the CLI and the demo seed. */
export async function createMember(em: EntityManager, tenantId: string, input: CreateUserInput): Promise<User> {
  return em.transactional(async (tem) => {
    const email = normalizeEmail(input.email);
    const studentNumber = input.studentNumber?.trim() || null;
    await assertUnique(tem, tenantId, email, studentNumber);
    const givenName = clean(input.givenName);
    const familyName = clean(input.familyName);
    const user = tem.create(User, {
      id: randomUUID(),
      tenantId,
      email,
      givenName,
      familyName,
      displayName: input.displayName ? clean(input.displayName) : `${givenName} ${familyName}`.slice(0, 100),
      role: input.role,
      studentNumber,
      avatarUrl: input.avatarUrl?.trim() || null,
      status: UserStatus.ACTIVE,
      source: RecordSource.MANUAL,
    });
    await onUniqueViolation(() => tem.flush(), UNIQUE_ERRORS);
    return user;
  });
}

/** Changes a member's profile or role (administrators only). */
export async function updateUser(ctx: RequestContext, rawId: string, input: UpdateUserInput): Promise<User> {
  ctx.access.requireAdmin();
  return ctx.em.transactional(async (em) => {
    const user = await findMemberForAdmin(em, ctx.tenantId, rawId);
    if (input.role && user.id === ctx.access.userId && input.role !== UserRole.ADMIN) {
      throw badInput('You cannot remove your own administrator role.', 'role');
    }
    const email = input.email != null ? normalizeEmail(input.email) : null;
    const studentNumber = input.studentNumber != null ? input.studentNumber.trim() || null : undefined;
    await assertUnique(em, ctx.tenantId, email, studentNumber ?? null, user.id);
    if (email) user.email = email;
    if (input.givenName != null) user.givenName = clean(input.givenName);
    if (input.familyName != null) user.familyName = clean(input.familyName);
    if (input.displayName != null) user.displayName = clean(input.displayName);
    if (input.role) user.role = input.role;
    if (studentNumber !== undefined) user.studentNumber = studentNumber;
    if (input.avatarUrl != null) user.avatarUrl = input.avatarUrl.trim() || null;
    user.updatedAt = new Date();
    await onUniqueViolation(() => em.flush(), UNIQUE_ERRORS);
    ctx.audit.wrote([user.id], [
      'user.account',
      ...(input.givenName != null || input.familyName != null || input.displayName != null ? ['user.name' as const] : []),
      ...(input.email != null ? ['user.contact.email' as const] : []),
      ...(input.studentNumber != null ? ['user.unique_id.student_number' as const] : []),
      ...(input.avatarUrl != null ? ['user.content.self_image' as const] : []),
    ]);
    return user;
  });
}

/** Deactivates a member: they can no longer sign in, and every token they hold is revoked. */
export async function deactivateUser(ctx: RequestContext, rawId: string): Promise<User> {
  ctx.access.requireAdmin();
  return ctx.em.transactional(async (em) => {
    const user = await findMemberForAdmin(em, ctx.tenantId, rawId);
    if (user.id === ctx.access.userId) throw badInput('You cannot deactivate yourself.', 'id');
    if (user.status !== UserStatus.DEACTIVATED) {
      user.status = UserStatus.DEACTIVATED;
      user.deactivatedAt = new Date();
      user.updatedAt = user.deactivatedAt;
      await em.flush();
      await revokeTokensOfUser(em, ctx.tenantId, user.id);
      ctx.audit.wrote([user.id], ['user.account', 'user.credential']);
    }
    return user;
  });
}

/** Lets a member change how they appear to others. Names, email and student number are managed by admins. */
export async function updateMyProfile(ctx: RequestContext, input: UpdateMyProfileInput): Promise<User> {
  return ctx.em.transactional(async (em) => {
    const user = await em.findOneOrFail(User, { id: ctx.access.userId, tenantId: ctx.tenantId });
    if (input.displayName != null) user.displayName = clean(input.displayName);
    if (input.avatarUrl != null) user.avatarUrl = input.avatarUrl.trim() || null;
    user.updatedAt = new Date();
    await em.flush();
    ctx.audit.wrote([user.id], [
      'user.account',
      ...(input.displayName != null ? ['user.name' as const] : []),
      ...(input.avatarUrl != null ? ['user.content.self_image' as const] : []),
    ]);
    return user;
  });
}
