import type { EntityManager } from '@mikro-orm/postgresql';
import type { DataCategory } from '../../privacy/categories';
import { User } from '../user/user.entity';
import { badInput, duplicate } from '../../shared/errors';
import { RectifiableField, type StoredChange } from './dsr.entity';

/** A profile field a rectification may correct: where it lives, its category, and how a new value is checked. */
interface FieldRule {
  property: 'givenName' | 'familyName' | 'displayName' | 'email' | 'studentNumber';
  category: DataCategory;
  /** The value as stored, or a message saying what is wrong with it. */
  normalize(value: string | null): { value: string | null } | { error: string };
}

const clean = (s: string) => s.trim().replace(/\s+/g, ' ');
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const name = (label: string): FieldRule['normalize'] => (v) => {
  const value = v === null ? '' : clean(v);
  return value.length >= 1 && value.length <= 100 ? { value } : { error: `${label} must be 1 to 100 characters` };
};

export const RECTIFIABLE: Record<RectifiableField, FieldRule> = {
  [RectifiableField.GIVEN_NAME]: { property: 'givenName', category: 'user.name', normalize: name('givenName') },
  [RectifiableField.FAMILY_NAME]: { property: 'familyName', category: 'user.name', normalize: name('familyName') },
  [RectifiableField.DISPLAY_NAME]: { property: 'displayName', category: 'user.name', normalize: name('displayName') },
  [RectifiableField.EMAIL]: {
    property: 'email',
    category: 'user.contact.email',
    normalize: (v) => {
      const value = v?.trim().toLowerCase() ?? '';
      return value.length <= 254 && EMAIL.test(value) ? { value } : { error: 'email must be a valid email address' };
    },
  },
  [RectifiableField.STUDENT_NUMBER]: {
    property: 'studentNumber',
    category: 'user.unique_id.student_number',
    normalize: (v) => {
      const value = v?.trim() || null;
      return value === null || /^[A-Za-z0-9._-]{1,64}$/.test(value)
        ? { value } : { error: 'studentNumber may hold 1 to 64 letters, digits, dots, dashes and underscores' };
    },
  },
};

/** Checks and normalizes the requested changes (one per field, at least one, values valid). */
export function validateChanges(input: { field: RectifiableField; value?: string | null }[] | null | undefined): StoredChange[] {
  if (!input || input.length === 0) throw badInput('A rectification names at least one field to correct.', 'changes');
  const seen = new Set<RectifiableField>();
  return input.map((c, i) => {
    if (seen.has(c.field)) throw badInput(`changes names ${c.field} twice.`, `changes.${i}.field`);
    seen.add(c.field);
    const result = RECTIFIABLE[c.field].normalize(c.value ?? null);
    if ('error' in result) throw badInput(`${result.error}.`, `changes.${i}.value`);
    return { field: c.field, after: result.value };
  });
}

/** The categories a set of changes touches (for the access log). */
export const categoriesOf = (changes: StoredChange[]): DataCategory[] => [...new Set(changes.map((c) => RECTIFIABLE[c.field].category))].sort();

/**
 * Applies the changes to the member and records each field's value before the change in the request
 * (the request record, never the log). A value another member already has is the request's failure,
 * not a retryable fault: the caller marks the request FAILED with that reason.
 */
export async function applyChanges(em: EntityManager, tenantId: string, userId: string, changes: StoredChange[], now: Date): Promise<StoredChange[]> {
  const user = await em.findOne(User, { id: userId, tenantId });
  if (!user) throw new RectificationRefused('the member no longer exists');
  const applied: StoredChange[] = [];
  for (const change of changes) {
    const rule = RECTIFIABLE[change.field];
    if (rule.property === 'email' || rule.property === 'studentNumber') {
      const value = change.after;
      if (value !== null) {
        const clash = await em.findOne(User, { tenantId, [rule.property]: value, id: { $ne: userId } }, { fields: ['id'] });
        if (clash) {
          const e = duplicate(`Another member of this tenant has this ${rule.property === 'email' ? 'email' : 'student number'}.`, rule.property);
          throw new RectificationRefused(e.message);
        }
      }
    }
    const before = (user[rule.property] as string | null) ?? null;
    applied.push({ field: change.field, before, after: change.after });
    (user as unknown as Record<string, string | null>)[rule.property] = change.after;
  }
  user.updatedAt = now;
  await em.flush();
  return applied;
}

/** A rectification that cannot be applied as asked (retrying will not help). */
export class RectificationRefused extends Error {
  readonly permanent = true;
  constructor(message: string) {
    super(message);
    this.name = 'RectificationRefused';
  }
}
