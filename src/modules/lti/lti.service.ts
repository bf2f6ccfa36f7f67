import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { SignJWT } from 'jose';
import { LtiPrivacyLevel, LtiTool } from './lti-tool.entity';
import type { LtiLaunch, RegisterLtiToolInput, UpdateLtiToolInput } from './lti.types';
import { CLAIM, COURSE_OFFERING, LIS_ROLE, personalClaims, subjectIdFor } from './lti.claims';
import { LTI_ALG, type LtiPlatform } from './lti.key';
import { User } from '../user/user.entity';
import { getCourse } from '../course/course.service';
import type { RequestContext } from '../../server/context';
import { AppError, badInput, duplicate, ErrorCode, forbidden, notFound, parseId, requiredText } from '../../shared/errors';
import { onUniqueViolation } from '../../db/constraints';

/** An id_token is good for this long: enough to POST it, too short to be worth stealing. */
export const ID_TOKEN_TTL_SECONDS = 300;
export const NONCE_MAX = 255;

const UNIQUE_ERRORS = {
  lti_tool_tenant_id_client_id_key: () => duplicate('Another tool of this tenant has this client id.', 'clientId'),
  lti_tool_tenant_id_name_key: () => duplicate('Another tool of this tenant has this name.', 'name'),
  lti_tool_course_tool_id_course_id_key: () => duplicate('The tool is already attached to this course.', 'courseId'),
};

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A URL Custos sends people or their data to: https, or plain http to this machine only (a tool in
 * development, a test's receiver). No credentials in it, no fragment.
 */
export function toolUrl(raw: string, field: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw badInput(`${field} is not a valid URL.`, field);
  }
  const local = url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !local) throw badInput(`${field} must be an https:// URL (http:// only for localhost).`, field);
  if (url.username || url.password) throw badInput(`${field} must not carry credentials.`, field);
  if (url.hash) throw badInput(`${field} must not have a fragment.`, field);
  if (url.href.length > 2000) throw badInput(`${field} must be at most 2000 characters.`, field);
  return url.href;
}

/** The nonce a tool's login request carried: required, visible ASCII, at most 255 characters. */
export function parseNonce(raw: string): string {
  if (raw.length < 1 || raw.length > NONCE_MAX || !/^[\x21-\x7e]+$/.test(raw)) {
    throw badInput(`nonce must be 1 to ${NONCE_MAX} visible ASCII characters.`, 'nonce');
  }
  return raw;
}

async function findTool(em: EntityManager, tenantId: string, rawId: string, field = 'id'): Promise<LtiTool> {
  const tool = await em.findOne(LtiTool, { id: parseId(rawId, field), tenantId });
  if (!tool) throw notFound('Tool');
  return tool;
}

/** The tenant's tools by name (administrators). */
export async function listTools(ctx: RequestContext): Promise<LtiTool[]> {
  ctx.access.requireAdmin();
  return ctx.em.find(LtiTool, { tenantId: ctx.tenantId }, { orderBy: { name: 'asc', id: 'asc' } });
}

/** Registers a tool (administrators). Its `sub` secret is made here and never leaves the database. */
export async function registerTool(ctx: RequestContext, input: RegisterLtiToolInput): Promise<LtiTool> {
  ctx.access.requireAdmin();
  const values = {
    name: requiredText(input.name, 'name', 100),
    clientId: requiredText(input.clientId, 'clientId', 255),
    launchUrl: toolUrl(input.launchUrl, 'launchUrl'),
    notificationUrl: input.notificationUrl?.trim() ? toolUrl(input.notificationUrl, 'notificationUrl') : null,
  };
  return ctx.em.transactional(async (em) => {
    if (await em.count(LtiTool, { tenantId: ctx.tenantId, clientId: values.clientId })) throw UNIQUE_ERRORS.lti_tool_tenant_id_client_id_key();
    if (await em.count(LtiTool, { tenantId: ctx.tenantId, name: values.name })) throw UNIQUE_ERRORS.lti_tool_tenant_id_name_key();
    const tool = em.create(LtiTool, {
      id: randomUUID(), tenantId: ctx.tenantId, ...values, privacyLevel: input.privacyLevel, subSecret: randomBytes(32),
    });
    await onUniqueViolation(() => em.flush(), UNIQUE_ERRORS);
    return tool;
  });
}

/** Changes a tool (administrators); a new privacy level governs launches from now on. */
export async function updateTool(ctx: RequestContext, rawId: string, input: UpdateLtiToolInput): Promise<LtiTool> {
  ctx.access.requireAdmin();
  return ctx.em.transactional(async (em) => {
    const tool = await findTool(em, ctx.tenantId, rawId);
    if (input.name != null) {
      const name = requiredText(input.name, 'name', 100);
      if (await em.count(LtiTool, { tenantId: ctx.tenantId, name, id: { $ne: tool.id } })) throw UNIQUE_ERRORS.lti_tool_tenant_id_name_key();
      tool.name = name;
    }
    if (input.launchUrl != null) tool.launchUrl = toolUrl(input.launchUrl, 'launchUrl');
    if (input.notificationUrl != null) tool.notificationUrl = input.notificationUrl.trim() ? toolUrl(input.notificationUrl, 'notificationUrl') : null;
    if (input.privacyLevel != null) tool.privacyLevel = input.privacyLevel;
    if (input.enabled != null) tool.enabled = input.enabled;
    tool.updatedAt = new Date();
    await onUniqueViolation(() => em.flush(), UNIQUE_ERRORS);
    return tool;
  });
}

/** Places a tool in a course (administrators): its members can launch it there. */
export async function attachTool(ctx: RequestContext, rawToolId: string, rawCourseId: string): Promise<LtiTool> {
  ctx.access.requireAdmin();
  const course = await getCourse(ctx, rawCourseId, 'courseId');
  return ctx.em.transactional(async (em) => {
    const tool = await findTool(em, ctx.tenantId, rawToolId, 'toolId');
    const [placed] = await em.execute('select 1 from lti_tool_course where tenant_id = ? and tool_id = ? and course_id = ?', [ctx.tenantId, tool.id, course.id]);
    if (placed) throw UNIQUE_ERRORS.lti_tool_course_tool_id_course_id_key();
    await onUniqueViolation(() => em.execute(
      'insert into lti_tool_course (id, tenant_id, tool_id, course_id) values (?, ?, ?, ?)', [randomUUID(), ctx.tenantId, tool.id, course.id]),
    UNIQUE_ERRORS);
    return tool;
  });
}

/** Removes a tool from a course (administrators). Past launches stay in the log. */
export async function detachTool(ctx: RequestContext, rawToolId: string, rawCourseId: string): Promise<LtiTool> {
  ctx.access.requireAdmin();
  const course = await getCourse(ctx, rawCourseId, 'courseId');
  return ctx.em.transactional(async (em) => {
    const tool = await findTool(em, ctx.tenantId, rawToolId, 'toolId');
    const removed = await em.execute<{ id: string }[]>(
      'delete from lti_tool_course where tenant_id = ? and tool_id = ? and course_id = ? returning id', [ctx.tenantId, tool.id, course.id]);
    if (!removed.length) throw notFound('Tool placement');
    return tool;
  });
}

/** Courses a tool is placed in, by course id (one statement for a list of tools). */
export async function coursesOfTools(em: EntityManager, tenantId: string, toolIds: readonly string[]): Promise<Map<string, string[]>> {
  const rows = await em.execute<{ tool_id: string; course_id: string }[]>(
    `select tc.tool_id, tc.course_id from lti_tool_course tc join course c on c.id = tc.course_id
      where tc.tenant_id = ? and tc.tool_id = any(?::uuid[]) order by c.code, c.id`, [tenantId, `{${toolIds.join(',')}}`]);
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.tool_id, [...(out.get(r.tool_id) ?? []), r.course_id]);
  return out;
}

/** Enabled tools placed in each course, by name (one statement for a list of courses). */
export async function toolsOfCourses(em: EntityManager, tenantId: string, courseIds: readonly string[]): Promise<Map<string, LtiTool[]>> {
  const rows = await em.execute<(Record<string, unknown> & { course_id: string })[]>(
    `select t.*, tc.course_id from lti_tool_course tc join lti_tool t on t.id = tc.tool_id
      where tc.tenant_id = ? and tc.course_id = any(?::uuid[]) and t.enabled order by t.name, t.id`, [tenantId, `{${courseIds.join(',')}}`]);
  const out = new Map<string, LtiTool[]>();
  for (const { course_id: courseId, ...row } of rows) out.set(courseId, [...(out.get(courseId) ?? []), em.map(LtiTool, row as never)]);
  return out;
}

/**
 * A member launches a tool placed in one of their courses: a signed id_token (LTI 1.3 resource link
 * launch) with only the personal claims the tool's privacy level allows, and a DISCLOSE event naming
 * the tool and the categories sent, written before the token leaves (fail closed). Someone who cannot
 * see the course gets NOT_FOUND; an administrator who can, but is not in it, FORBIDDEN: launches speak
 * for a member of the course.
 */
export async function launchTool(ctx: RequestContext, rawCourseId: string, rawToolId: string, rawNonce: string): Promise<LtiLaunch> {
  const nonce = parseNonce(rawNonce);
  const platform: LtiPlatform | null = ctx.lti;
  const course = await getCourse(ctx, rawCourseId, 'courseId');
  const toolId = parseId(rawToolId, 'toolId');
  const role = (await ctx.access.courseRoles()).get(course.id);
  if (!role) throw forbidden('Only members of the course may launch its tools.');
  const [placement] = await ctx.em.execute<{ id: string }[]>(
    `select tc.id from lti_tool_course tc join lti_tool t on t.id = tc.tool_id
      where tc.tenant_id = ? and tc.course_id = ? and tc.tool_id = ? and t.enabled`, [ctx.tenantId, course.id, toolId]);
  if (!placement) throw notFound('Tool');
  if (!platform?.issuer) {
    throw new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'Tool launches are not configured on this server (CUSTOS_LTI_ISSUER).');
  }
  const tool = await findTool(ctx.em, ctx.tenantId, toolId);
  const user = await ctx.em.findOneOrFail(User, { id: ctx.access.userId, tenantId: ctx.tenantId });
  const [sis] = await ctx.em.execute<{ sourced_id: string }[]>(
    `select sourced_id from sis_record where tenant_id = ? and kind = 'user' and target_id = ? and status = 'active'
      order by updated_at desc limit 1`, [ctx.tenantId, user.id]);
  const { claims, categories } = personalClaims(tool.privacyLevel, { ...user, sourcedId: sis?.sourced_id ?? null });
  const now = Math.floor(Date.now() / 1000);
  const idToken = await new SignJWT({
    ...claims,
    nonce,
    azp: tool.clientId,
    [CLAIM.messageType]: 'LtiResourceLinkRequest',
    [CLAIM.version]: '1.3.0',
    [CLAIM.deploymentId]: tool.id,
    [CLAIM.targetLinkUri]: tool.launchUrl,
    [CLAIM.resourceLink]: { id: placement.id, title: tool.name },
    [CLAIM.roles]: [LIS_ROLE[role]],
    [CLAIM.context]: { id: course.id, label: course.code, title: course.title, type: [COURSE_OFFERING] },
  })
    .setProtectedHeader({ alg: LTI_ALG, kid: platform.key.kid, typ: 'JWT' })
    .setIssuer(platform.issuer)
    .setAudience(tool.clientId)
    .setSubject(subjectIdFor(tool.subSecret, user.id))
    .setIssuedAt(now)
    .setExpirationTime(now + ID_TOKEN_TTL_SECONDS)
    .setJti(randomUUID())
    .sign(platform.key.privateKey);
  ctx.audit.disclosed(user.id, categories, `LtiTool:${tool.id}`, [`Course:${course.id}`]);
  return { toolId: tool.id, launchUrl: tool.launchUrl, idToken, expiresAt: new Date((now + ID_TOKEN_TTL_SECONDS) * 1000) };
}
