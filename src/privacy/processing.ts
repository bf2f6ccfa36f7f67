import type { Purpose } from '../audit/purposes';
import type { DataCategory } from './categories';

/**
 * The records of processing that exports (and, later, the reports for administrators and auditors)
 * are written from: the lawful basis of each purpose and how long each category is kept. Closed maps
 * over Purpose and DataCategory, so a new purpose or category cannot be added without saying both.
 * These are the installation's defaults; an institution answers for its own (GDPR Art. 13, 14, 30).
 */

/** GDPR Art. 6(1) bases that apply to an institution's processing. */
export type LawfulBasisKind = 'contract' | 'legal_obligation' | 'public_task' | 'legitimate_interests';

export interface LawfulBasis {
  basis: LawfulBasisKind;
  /** Where the law says it. */
  article: string;
  explanation: string;
}

export const LAWFUL_BASIS: Readonly<Record<Purpose, LawfulBasis>> = {
  'account.self_service': {
    basis: 'public_task', article: 'GDPR Art. 6(1)(e); Art. 6(1)(b) for institutions that teach under contract',
    explanation: 'A member needs an account to take part in teaching; showing and changing it is part of providing it.',
  },
  'account.administration': {
    basis: 'public_task', article: 'GDPR Art. 6(1)(e); Art. 6(1)(b) for institutions that teach under contract',
    explanation: 'The institution administers who may use its teaching platform and with which rights.',
  },
  'education.delivery': {
    basis: 'public_task', article: 'GDPR Art. 6(1)(e); Art. 6(1)(b); FERPA 34 CFR 99.31(a)(1) (legitimate educational interest)',
    explanation: 'Running courses: rosters, course content and discussion between the people enrolled.',
  },
  'education.assessment': {
    basis: 'legal_obligation', article: 'GDPR Art. 6(1)(c) and (e); FERPA 34 CFR 99.3 (education records)',
    explanation: 'Grading, and keeping the grades the institution is required to keep.',
  },
  'integration.sis': {
    basis: 'public_task', article: 'GDPR Art. 6(1)(e); Art. 6(1)(b)',
    explanation: 'Keeping the platform in step with the institution\'s student information system.',
  },
  'sis.sync': {
    basis: 'public_task', article: 'GDPR Art. 6(1)(e); Art. 6(1)(b); FERPA 34 CFR 99.31(a)(1)',
    explanation: 'Creating and updating members, courses and enrollments from the rosters the institution keeps in its student information system.',
  },
  'audit': {
    basis: 'legal_obligation', article: 'GDPR Art. 6(1)(c) with Art. 5(2), 30 and 32',
    explanation: 'Showing an external auditor that personal data is processed lawfully and securely.',
  },
  'data_subject_rights': {
    basis: 'legal_obligation', article: 'GDPR Art. 6(1)(c) with Art. 12 to 22; FERPA 34 CFR 99.10, 99.20',
    explanation: 'Answering the requests people make about their own data, and keeping proof of the answer.',
  },
  'security.incident': {
    basis: 'legal_obligation', article: 'GDPR Art. 6(1)(c) with Art. 32, 33 and 34',
    explanation: 'Working out which people and which of their data a breach touched, so the supervisory authority and the people concerned '
      + 'can be told, and documenting every breach with its effects and the remedial action taken (Art. 33(5)).',
  },
};

export interface Retention {
  /** How long, in words. */
  period: string;
  /** What ends it, and what happens then. */
  end: string;
}

export const RETENTION: Readonly<Record<DataCategory, Retention>> = {
  'user.name': { period: 'While the person is a member of the institution', end: 'Replaced by "Erased member" on erasure' },
  'user.contact.email': {
    period: 'While the person is a member of the institution', end: 'Replaced by an undeliverable placeholder on erasure',
  },
  'user.unique_id.student_number': { period: 'While the person is a member of the institution', end: 'Removed on erasure' },
  'user.content.self_image': { period: 'Until the person removes it, or erasure', end: 'Removed on erasure' },
  'user.account': {
    period: 'For as long as the institution must be able to show the account existed',
    end: 'Kept on a nameless, deactivated account after erasure (accountability, GDPR Art. 5(2))',
  },
  'user.education.enrollment': {
    period: 'For the institution\'s education-record retention schedule',
    end: 'Kept on the nameless account after erasure (legal obligation to keep education records)',
  },
  'user.education.grade': {
    period: 'For the institution\'s education-record retention schedule',
    end: 'Kept on the nameless account after erasure (legal obligation to keep education records)',
  },
  'user.content.private': { period: 'Until the author deletes it, or erasure', end: 'Deleted on erasure' },
  'user.behavior.reaction': { period: 'Until the person withdraws it, or erasure', end: 'Deleted on erasure' },
  'user.credential': {
    period: 'Until the token expires or is revoked; its record stays for the access log',
    end: 'Revoked, and its label removed, on erasure',
  },
  'user.device.ip_address': {
    period: 'With the access log, encrypted under the person\'s own key',
    end: 'Unreadable once the key is deleted on erasure',
  },
  'user.device.user_agent': {
    period: 'With the access log, encrypted under the person\'s own key',
    end: 'Unreadable once the key is deleted on erasure',
  },
  'user.access_history': {
    period: 'For the life of the access log (its integrity is the evidence of lawful processing)',
    end: 'Kept after erasure, but no longer linkable to the person',
  },
  'user.data_request': {
    period: 'For as long as the institution must be able to show how it answered',
    end: 'Kept after erasure, without notes or corrected values',
  },
};

/** A category's retention as it applies to one institution: its own period where it set one. */
export interface EffectiveRetention extends Retention {
  overridden: boolean;
}

export function effectiveRetention(overrides: ReadonlyMap<string, string>): Record<DataCategory, EffectiveRetention> {
  return Object.fromEntries((Object.keys(RETENTION) as DataCategory[]).map((c) => {
    const own = overrides.get(c);
    return [c, own ? { ...RETENTION[c], period: own, overridden: true } : { ...RETENTION[c], overridden: false }];
  })) as Record<DataCategory, EffectiveRetention>;
}
