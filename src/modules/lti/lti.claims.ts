import { createHmac } from 'node:crypto';
import type { DataCategory } from '../../privacy/categories';
import { CourseRole } from '../course/enrollment.entity';
import { LtiPrivacyLevel } from './lti-tool.entity';

/** LTI 1.3 claim names (IMS LTI Core 1.3 §5). */
export const CLAIM = {
  messageType: 'https://purl.imsglobal.org/spec/lti/claim/message_type',
  version: 'https://purl.imsglobal.org/spec/lti/claim/version',
  deploymentId: 'https://purl.imsglobal.org/spec/lti/claim/deployment_id',
  targetLinkUri: 'https://purl.imsglobal.org/spec/lti/claim/target_link_uri',
  resourceLink: 'https://purl.imsglobal.org/spec/lti/claim/resource_link',
  roles: 'https://purl.imsglobal.org/spec/lti/claim/roles',
  context: 'https://purl.imsglobal.org/spec/lti/claim/context',
  lis: 'https://purl.imsglobal.org/spec/lti/claim/lis',
} as const;

/** LIS v2 membership roles of the course roles Custos knows. */
export const LIS_ROLE: Record<CourseRole, string> = {
  [CourseRole.INSTRUCTOR]: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor',
  [CourseRole.STUDENT]: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner',
};

export const COURSE_OFFERING = 'http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering';

/**
 * The person's id at one tool: HMAC-SHA256 of their user id under the tool's own secret. Stable for a
 * (tool, person) pair, meaningless without the secret, and different at every tool, so two tools
 * comparing notes cannot tell they have the same person.
 */
export function subjectIdFor(toolSecret: Buffer, userId: string): string {
  return createHmac('sha256', toolSecret).update(`custos.lti.sub.v1:${userId}`).digest('base64url');
}

export interface LaunchPerson {
  givenName: string;
  familyName: string;
  displayName: string;
  email: string;
  avatarUrl: string | null;
  /** The student number: lis.person_sourcedid (PUBLIC only) when the SIS gave the person no sourcedId. */
  studentNumber: string | null;
  /** The person's sourcedId in the student information system (from a roster import), if any. */
  sourcedId?: string | null;
}

/**
 * The personal claims a privacy level allows, and the data categories they are. The role and the
 * course (`roles`, `context`) go to every tool: they are the person's enrollment, so every launch
 * discloses `user.education.enrollment`. A claim without a value (no picture, no student number) is
 * left out, and so is its category: the access log records what was sent, not what might have been.
 */
export function personalClaims(level: LtiPrivacyLevel, p: LaunchPerson): { claims: Record<string, unknown>; categories: DataCategory[] } {
  const claims: Record<string, unknown> = {};
  const categories = new Set<DataCategory>(['user.education.enrollment']);
  const names = level === LtiPrivacyLevel.NAME_ONLY || level === LtiPrivacyLevel.PUBLIC;
  const email = level === LtiPrivacyLevel.EMAIL_ONLY || level === LtiPrivacyLevel.PUBLIC;
  if (names) {
    Object.assign(claims, { given_name: p.givenName, family_name: p.familyName, name: p.displayName });
    categories.add('user.name');
  }
  if (email) {
    claims.email = p.email;
    categories.add('user.contact.email');
  }
  if (level === LtiPrivacyLevel.PUBLIC) {
    if (p.avatarUrl) {
      claims.picture = p.avatarUrl;
      categories.add('user.content.self_image');
    }
    // LIS's person_sourcedid is the SIS's id for the person: the sourcedId a roster import linked, else the student number.
    if (p.sourcedId) {
      claims[CLAIM.lis] = { person_sourcedid: p.sourcedId };
      categories.add('user.account');
    } else if (p.studentNumber) {
      claims[CLAIM.lis] = { person_sourcedid: p.studentNumber };
      categories.add('user.unique_id.student_number');
    }
  }
  return { claims, categories: [...categories].sort() };
}
