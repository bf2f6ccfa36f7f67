import { z } from 'zod';
import { DATA_CATEGORIES, type DataCategory } from '../privacy/categories';
import { PURPOSES, type Purpose } from './purposes';

/**
 * The shapes of access events, one per kind, validated before anything is written: a malformed event
 * cannot reach the log. People appear as user ids here only in memory; the store turns them into
 * pseudonyms inside the database, and the log itself never holds a user id, name, value or variable.
 */

const uuid = z.string().uuid();
const COORDINATE_RE = /^[A-Z][A-Za-z0-9]*\.[A-Za-z_][A-Za-z0-9_]*$/;
/** Objects an event may name, as Type:id. */
const RESOURCE_RE = /^(Course|Post|Comment|Enrollment|ApiToken|DataSubjectRequest|LtiTool|SisImport|Incident):[0-9a-f-]{36}$/;
const coordinate = z.string().regex(COORDINATE_RE, 'a field coordinate like User.email');
const category = z.enum(Object.keys(DATA_CATEGORIES) as [DataCategory, ...DataCategory[]]);
const purpose = z.enum(Object.keys(PURPOSES) as [Purpose, ...Purpose[]]);

export const Actor = z.object({
  kind: z.enum(['USER', 'AUDITOR', 'SERVICE', 'SYSTEM']),
  role: z.enum(['ADMIN', 'INSTRUCTOR', 'STUDENT']).nullable(),
  /** A member's id, turned into their pseudonym when written. */
  userId: uuid.nullable(),
  credentialId: z.string().max(64).nullable(),
  /** Kept only encrypted under the actor's own key, and only for members (who have one). */
  ip: z.string().max(64).nullable(),
  userAgent: z.string().max(512).nullable(),
}).strict();
export type Actor = z.infer<typeof Actor>;

export const Subject = z.object({
  userId: uuid,
  categories: z.array(category).min(1).max(Object.keys(DATA_CATEGORIES).length),
}).strict();
export type Subject = z.infer<typeof Subject>;

const common = {
  id: uuid,
  tenantId: uuid,
  occurredAt: z.date(),
  requestId: z.string().min(1).max(64),
  operationType: z.enum(['query', 'mutation', 'system']),
  operationName: z.string().max(200).nullable(),
  rootField: coordinate,
  fields: z.array(coordinate).max(1000),
  purpose,
  actor: Actor,
  /**
   * Objects the operation addressed, as Type:id (never a person's id: people are subjects). A DISCLOSE
   * event names its recipient here: `LtiTool:<id>` for a third-party tool. An import names itself: `SisImport:<id>`;
   * a change to a breach record, or a read of the people it affected, names the incident: `Incident:<id>`.
   */
  resources: z.array(z.string().regex(RESOURCE_RE)).max(100),
  itemCount: z.number().int().min(0),
};

/**
 * Personal data read: at least one subject, except on the audit surfaces (the log, reports over it), which
 * show pseudonyms and counts, no one's personal fields, and are still recorded as reads for the purpose `audit`.
 */
export const ReadEvent = z.object({ ...common, kind: z.literal('READ'), outcome: z.literal('SUCCESS'), subjects: z.array(Subject) }).strict();
export const WriteEvent = z.object({ ...common, kind: z.literal('WRITE'), outcome: z.literal('SUCCESS'), subjects: z.array(Subject).min(1) }).strict();
/** Personal data sent outside Custos (a tool launch): the subjects with the categories sent, the recipient among the resources. */
export const DiscloseEvent = z.object({
  ...common,
  kind: z.literal('DISCLOSE'),
  outcome: z.literal('SUCCESS'),
  subjects: z.array(Subject).min(1),
}).strict();
export const DenyEvent = z.object({
  ...common,
  kind: z.literal('DENY'),
  outcome: z.literal('DENIED'),
  errorCode: z.enum(['FORBIDDEN']),
  subjects: z.array(Subject),
}).strict();

export const AccessEvent = z.discriminatedUnion('kind', [ReadEvent, WriteEvent, DiscloseEvent, DenyEvent]).superRefine((e, ctx) => {
  if (e.kind === 'READ' && e.subjects.length === 0 && e.purpose !== 'audit') {
    ctx.addIssue({ code: z.ZodIssueCode.too_small, minimum: 1, inclusive: true, type: 'array', path: ['subjects'], message: 'at least one' });
  }
});
export type ReadEvent = z.infer<typeof ReadEvent>;
export type WriteEvent = z.infer<typeof WriteEvent>;
export type DiscloseEvent = z.infer<typeof DiscloseEvent>;
export type DenyEvent = z.infer<typeof DenyEvent>;
export type AccessEvent = z.infer<typeof AccessEvent>;

/** Thrown when an event does not fit its shape: the request fails rather than write a bad record. */
export class MalformedEventError extends Error {
  constructor(readonly issues: string[]) {
    super(`malformed access event: ${issues.join('; ')}`);
    this.name = 'MalformedEventError';
  }
}

/**
 * Validates events before insert. The zod schemas above are the specification (and give the types);
 * this checks exactly the same rules by hand because it runs on every request with up to hundreds of
 * subjects, where zod cost a third of a millisecond (a test holds the two to the same verdicts).
 */
export function validateEvents(events: unknown[]): AccessEvent[] {
  return events.map((e) => {
    const issues = eventIssues(e);
    if (issues.length) throw new MalformedEventError(issues);
    return e as AccessEvent;
  });
}

/** The zod schemas' verdict, for tests that compare it with `validateEvents`. */
export function zodIssues(e: unknown): string[] {
  const parsed = AccessEvent.safeParse(e);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CATEGORY_COUNT = Object.keys(DATA_CATEGORIES).length;
const CATEGORY_SET = new Set(Object.keys(DATA_CATEGORIES));
const PURPOSE_SET = new Set(Object.keys(PURPOSES));
const ACTOR_KINDS = new Set(['USER', 'AUDITOR', 'SERVICE', 'SYSTEM']);
const ROLES = new Set(['ADMIN', 'INSTRUCTOR', 'STUDENT']);
const OPERATION_TYPES = new Set(['query', 'mutation', 'system']);
const COMMON_KEYS = ['id', 'tenantId', 'occurredAt', 'requestId', 'operationType', 'operationName', 'rootField', 'fields', 'purpose', 'actor',
  'resources', 'itemCount', 'kind', 'outcome', 'subjects'];
const KEYS = { READ: new Set(COMMON_KEYS), WRITE: new Set(COMMON_KEYS), DISCLOSE: new Set(COMMON_KEYS), DENY: new Set([...COMMON_KEYS, 'errorCode']) };
const ACTOR_KEYS = new Set(['kind', 'role', 'userId', 'credentialId', 'ip', 'userAgent']);
const SUBJECT_KEYS = new Set(['userId', 'categories']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown, max = Infinity, min = 0): boolean => typeof v === 'string' && v.length >= min && v.length <= max;
const isUuid = (v: unknown) => typeof v === 'string' && UUID_RE.test(v);

function unknownKeys(o: Record<string, unknown>, allowed: Set<string>, at: string, out: string[]) {
  for (const k of Object.keys(o)) if (!allowed.has(k)) out.push(`${at}${at ? '.' : ''}${k}: unrecognized key`);
}

/** Every rule of the zod schemas, checked directly; returns the problems (empty: a valid event). */
function eventIssues(e: unknown): string[] {
  const out: string[] = [];
  if (!isObject(e)) return ['event: expected an object'];
  const kind = e.kind;
  if (kind !== 'READ' && kind !== 'WRITE' && kind !== 'DISCLOSE' && kind !== 'DENY') return ['kind: must be READ, WRITE, DISCLOSE or DENY'];
  const need = (ok: boolean, path: string, what: string) => { if (!ok) out.push(`${path}: ${what}`); };
  need(isUuid(e.id), 'id', 'must be a uuid');
  need(isUuid(e.tenantId), 'tenantId', 'must be a uuid');
  need(e.occurredAt instanceof Date && !Number.isNaN(e.occurredAt.getTime()), 'occurredAt', 'must be a valid date');
  need(isString(e.requestId, 64, 1), 'requestId', 'must be 1 to 64 characters');
  need(typeof e.operationType === 'string' && OPERATION_TYPES.has(e.operationType), 'operationType', 'must be query, mutation or system');
  need(e.operationName === null || isString(e.operationName, 200), 'operationName', 'must be null or at most 200 characters');
  need(typeof e.rootField === 'string' && COORDINATE_RE.test(e.rootField), 'rootField', 'must be a field coordinate like User.email');
  need(Array.isArray(e.fields) && e.fields.length <= 1000 && e.fields.every((f) => typeof f === 'string' && COORDINATE_RE.test(f)),
    'fields', 'must be at most 1000 field coordinates');
  need(typeof e.purpose === 'string' && PURPOSE_SET.has(e.purpose), 'purpose', 'must be a known purpose');
  need(Array.isArray(e.resources) && e.resources.length <= 100 && e.resources.every((r) => typeof r === 'string' && RESOURCE_RE.test(r)),
    'resources', 'must be at most 100 Type:id references');
  need(typeof e.itemCount === 'number' && Number.isInteger(e.itemCount) && e.itemCount >= 0, 'itemCount', 'must be a whole number ≥ 0');
  const a = e.actor;
  if (!isObject(a)) {
    out.push('actor: expected an object');
  } else {
    need(typeof a.kind === 'string' && ACTOR_KINDS.has(a.kind), 'actor.kind', 'must be USER, AUDITOR, SERVICE or SYSTEM');
    need(a.role === null || (typeof a.role === 'string' && ROLES.has(a.role)), 'actor.role', 'must be null or a role');
    need(a.userId === null || isUuid(a.userId), 'actor.userId', 'must be null or a uuid');
    need(a.credentialId === null || isString(a.credentialId, 64), 'actor.credentialId', 'must be null or at most 64 characters');
    need(a.ip === null || isString(a.ip, 64), 'actor.ip', 'must be null or at most 64 characters');
    need(a.userAgent === null || isString(a.userAgent, 512), 'actor.userAgent', 'must be null or at most 512 characters');
    unknownKeys(a, ACTOR_KEYS, 'actor', out);
  }
  if (kind === 'DENY') {
    need(e.outcome === 'DENIED', 'outcome', 'must be DENIED');
    need(e.errorCode === 'FORBIDDEN', 'errorCode', 'must be FORBIDDEN');
  } else {
    need(e.outcome === 'SUCCESS', 'outcome', 'must be SUCCESS');
  }
  const subjects = e.subjects;
  if (!Array.isArray(subjects)) {
    out.push('subjects: expected an array');
  } else {
    if (kind !== 'DENY' && subjects.length < 1 && !(kind === 'READ' && e.purpose === 'audit')) out.push('subjects: at least one');
    for (let i = 0; i < subjects.length; i++) {
      const s = subjects[i];
      if (!isObject(s)) { out.push(`subjects.${i}: expected an object`); continue; }
      if (!isUuid(s.userId)) out.push(`subjects.${i}.userId: must be a uuid`);
      const cats = s.categories;
      if (!Array.isArray(cats) || cats.length < 1 || cats.length > CATEGORY_COUNT || !cats.every((c) => typeof c === 'string' && CATEGORY_SET.has(c))) {
        out.push(`subjects.${i}.categories: must be 1 to ${CATEGORY_COUNT} known categories`);
      }
      if (Object.keys(s).length !== 2) unknownKeys(s, SUBJECT_KEYS, `subjects.${i}`, out);
    }
  }
  unknownKeys(e, KEYS[kind], '', out);
  return out;
}
