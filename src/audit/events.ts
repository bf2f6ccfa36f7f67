import { z } from 'zod';
import { DATA_CATEGORIES, type DataCategory } from '../privacy/categories';
import { PURPOSES, type Purpose } from './purposes';

/**
 * The shapes of access events, one per kind, validated before anything is written: a malformed event
 * cannot reach the log. People appear as user ids here only in memory; the store turns them into
 * pseudonyms inside the database, and the log itself never holds a user id, name, value or variable.
 */

const uuid = z.string().uuid();
const coordinate = z.string().regex(/^[A-Z][A-Za-z0-9]*\.[A-Za-z_][A-Za-z0-9_]*$/, 'a field coordinate like User.email');
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
  /** Objects the operation addressed, as Type:id (never a person's id: people are subjects). */
  resources: z.array(z.string().regex(/^(Course|Post|Comment|Enrollment|ApiToken|DataSubjectRequest):[0-9a-f-]{36}$/)).max(100),
  itemCount: z.number().int().min(0),
};

export const ReadEvent = z.object({ ...common, kind: z.literal('READ'), outcome: z.literal('SUCCESS'), subjects: z.array(Subject).min(1) }).strict();
export const WriteEvent = z.object({ ...common, kind: z.literal('WRITE'), outcome: z.literal('SUCCESS'), subjects: z.array(Subject).min(1) }).strict();
export const DenyEvent = z.object({
  ...common,
  kind: z.literal('DENY'),
  outcome: z.literal('DENIED'),
  errorCode: z.enum(['FORBIDDEN']),
  subjects: z.array(Subject),
}).strict();

export const AccessEvent = z.discriminatedUnion('kind', [ReadEvent, WriteEvent, DenyEvent]);
export type ReadEvent = z.infer<typeof ReadEvent>;
export type WriteEvent = z.infer<typeof WriteEvent>;
export type DenyEvent = z.infer<typeof DenyEvent>;
export type AccessEvent = z.infer<typeof AccessEvent>;

/** Thrown when an event does not fit its shape: the request fails rather than write a bad record. */
export class MalformedEventError extends Error {
  constructor(readonly issues: string[]) {
    super(`malformed access event: ${issues.join('; ')}`);
    this.name = 'MalformedEventError';
  }
}

/** Validates events before insert. */
export function validateEvents(events: unknown[]): AccessEvent[] {
  return events.map((e) => {
    const parsed = AccessEvent.safeParse(e);
    if (!parsed.success) throw new MalformedEventError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
    return parsed.data;
  });
}
