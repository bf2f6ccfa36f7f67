import { Extensions } from 'type-graphql';
import type { DataCategory } from './categories';

/**
 * Whose data a value is: the named property of the object being read holds the person's user id
 * (`'id'` for a User, `'authorId'` for a Post), or `'caller'`: the person making the request (the
 * caller's own reaction, role in a course).
 */
export type SubjectRef = string;
export const CALLER: SubjectRef = 'caller';

export interface TypePrivacyExtension {
  holdsPersonalData: boolean;
  subject?: SubjectRef;
}

export interface FieldPrivacyExtension {
  /** null: explicitly not personal data. */
  category: DataCategory | null;
  subject?: SubjectRef;
}

/**
 * Declares, next to a field's definition, that it is personal data of a category. The registry built
 * from these (see registry.ts) drives the access log, and later the export, erasure and the records of
 * processing: the data map is the code.
 */
export const Personal = (category: DataCategory, opts: { subject?: SubjectRef } = {}) =>
  Extensions({ privacy: { category, ...(opts.subject ? { subject: opts.subject } : {}) } satisfies FieldPrivacyExtension });

/** Declares a field explicitly not personal data (an opaque id, an aggregate count, institution data). */
export const NotPersonal = () => Extensions({ privacy: { category: null } satisfies FieldPrivacyExtension });

/** Marks a type whose fields may hold personal data; every scalar field must then be classified. */
export const PersonalData = (opts: { subject?: SubjectRef } = {}) =>
  Extensions({ privacy: { holdsPersonalData: true, ...(opts.subject ? { subject: opts.subject } : {}) } satisfies TypePrivacyExtension });

/** Marks a type that holds no personal data itself (structure, institution data). */
export const NoPersonalData = () => Extensions({ privacy: { holdsPersonalData: false } satisfies TypePrivacyExtension });
