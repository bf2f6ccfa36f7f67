import type { DataCategory } from './categories';
import type { PrivacyRegistry } from './registry';

/**
 * What erasure does with each category of a person's data. A closed map over the categories (the
 * compiler refuses a category without a rule), so a field classified under a new category cannot be
 * forgotten by erasure. RETAIN names the legal basis that overrides the right to erasure (GDPR Art. 17(3)).
 */
export type ErasureAction = 'SCRUB' | 'DELETE' | 'RETAIN';

export interface ErasureRule {
  action: ErasureAction;
  /** What happens to the data, in words for the plan and the receipt. */
  effect: string;
  /** RETAIN only: why the data may be kept. */
  legalBasis: string | null;
}

export const ERASURE_POLICY: Readonly<Record<DataCategory, ErasureRule>> = {
  'user.name': { action: 'SCRUB', effect: 'Given, family and display names replaced by "Erased member"', legalBasis: null },
  'user.contact.email': { action: 'SCRUB', effect: 'Email replaced by an undeliverable placeholder unique to the account', legalBasis: null },
  'user.unique_id.student_number': { action: 'DELETE', effect: 'Student number removed', legalBasis: null },
  'user.content.self_image': { action: 'DELETE', effect: 'Profile picture removed', legalBasis: null },
  'user.account': {
    action: 'RETAIN', effect: 'Role, status, source and dates kept on a nameless, deactivated account',
    legalBasis: 'Accountability (GDPR Art. 5(2)): the institution can show that the account existed and was erased',
  },
  'user.education.enrollment': {
    action: 'RETAIN', effect: 'Course enrollments kept on the nameless account',
    legalBasis: 'Legal obligation to keep education records (GDPR Art. 17(3)(b); FERPA 34 CFR 99.2 and institutional record schedules)',
  },
  'user.education.grade': {
    action: 'RETAIN', effect: 'Final grades kept on the nameless account',
    legalBasis: 'Legal obligation to keep education records (GDPR Art. 17(3)(b); FERPA 34 CFR 99.2 and institutional record schedules)',
  },
  'user.content.private': { action: 'DELETE', effect: 'Posts and comments deleted (with the replies in the person\'s own threads)', legalBasis: null },
  'user.behavior.reaction': { action: 'DELETE', effect: 'Reactions deleted', legalBasis: null },
  'user.credential': { action: 'SCRUB', effect: 'Tokens revoked at approval; their labels removed (their ids stay meaningful in the access log)', legalBasis: null },
  'user.device.ip_address': { action: 'DELETE', effect: 'Stored only encrypted under the person\'s key, which is deleted: unreadable', legalBasis: null },
  'user.device.user_agent': { action: 'DELETE', effect: 'Stored only encrypted under the person\'s key, which is deleted: unreadable', legalBasis: null },
  'user.access_history': {
    action: 'RETAIN', effect: 'Access events kept, verifiable, but no longer linkable to the person (their pseudonym link is deleted)',
    legalBasis: 'Integrity of the access log (GDPR Art. 5(1)(f), Art. 30); the events hold no name, only an unlinkable pseudonym',
  },
  'user.data_request': {
    action: 'RETAIN', effect: 'The request records kept as proof of handling; notes and corrected values in them removed',
    legalBasis: 'Accountability (GDPR Art. 5(2), Art. 12): the institution can show how it answered the requests',
  },
};

export interface ErasurePlanItem {
  /** A classified field (Type.field), or a category with no field of its own (IP address, user agent). */
  coordinate: string;
  category: DataCategory;
  rule: ErasureRule;
}

/** Every classified field of the API, and each category without a field, with what erasure does to it. */
export function erasurePlanItems(registry: PrivacyRegistry): ErasurePlanItem[] {
  const items = registry.personalFields().map((f) => ({ coordinate: f.coordinate, category: f.category, rule: ERASURE_POLICY[f.category] }));
  const covered = new Set(items.map((i) => i.category));
  for (const category of Object.keys(ERASURE_POLICY) as DataCategory[]) {
    if (!covered.has(category)) items.push({ coordinate: `(${category})`, category, rule: ERASURE_POLICY[category] });
  }
  return items.sort((a, b) => a.coordinate.localeCompare(b.coordinate));
}
