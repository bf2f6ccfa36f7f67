import { rule, shield, type IRules } from 'graphql-shield';
import type { IMiddlewareFieldMap } from 'graphql-middleware';
import { getNamedType, isObjectType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { RequestContext } from '../server/context';
import { UserRole, type User } from '../modules/user/user.entity';
import type { Principal } from './principal';
import type { Enrollment } from '../modules/course/enrollment.entity';
import { forbidden } from '../shared/errors';

/**
 * The role matrix, as graphql-shield rules. Every field of every object type has an explicit rule here
 * (a test fails otherwise) and anything missing falls back to deny.
 *
 * Two kinds of rules:
 * - principal rules look only at who is calling; they are cached once per request ('contextual').
 * - row rules look at the object being resolved (its `parent`), so they are cached per object id,
 *   never across objects; the facts they need (the caller's courses and students) are loaded once per
 *   request by `Access`, so a 200-row roster costs no extra statement.
 *
 * Which rows come back at all is decided in the queries themselves (services scope their SQL); these
 * rules decide which fields of those rows the caller may read.
 */

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/**
 * A rule whose own failure (a database error, say) surfaces as that error, not as a silent denial:
 * graphql-shield turns a throwing rule into `false`, which would hide real faults behind FORBIDDEN.
 */
function principalRule(name: string, check: (ctx: RequestContext) => boolean) {
  return rule(name, { cache: 'contextual' })((_parent, _args, ctx: RequestContext) => {
    try {
      return check(ctx);
    } catch (err) {
      return asError(err);
    }
  });
}

/**
 * A rule on the object being resolved. Its answer is cached per request for that object (keyed by the
 * rule and the object's id, never by the request alone), so a row's email and student number share one
 * check; and it returns synchronously when the check can, because it runs once per row of large lists.
 */
type RowCheck = (ctx: RequestContext, parent: never) => boolean | Promise<boolean>;
const ROW_CHECKS = new Map<unknown, RowCheck>();

function rowRule<P extends { id: string }>(name: string, check: (ctx: RequestContext, parent: P) => boolean | Promise<boolean>) {
  const shieldRule = rule(name, { cache: (parent: P) => parent.id })((parent: P, _args, ctx: RequestContext) => {
    try {
      const answer = check(ctx, parent);
      return answer instanceof Promise ? answer.catch(asError) : answer;
    } catch (err) {
      return asError(err);
    }
  });
  ROW_CHECKS.set(shieldRule, check as RowCheck);
  return shieldRule;
}

/** Any authenticated principal (requests without one are refused before execution anyway). */
export const isAuthenticated = principalRule('isAuthenticated', (ctx) => ctx.principal !== null);
/** Members: administrators, instructors, students. */
export const isMember = principalRule('isMember', (ctx) => ctx.access.isUser);
export const isAdmin = principalRule('isAdmin', (ctx) => ctx.access.isAdmin);
/** Administrators and instructors (grading). */
export const isStaff = principalRule('isStaff', (ctx) => ctx.access.isAdmin || ctx.access.isInstructor);
/** Administrators and external auditors: checkpoints, proofs and signing keys (pseudonymous; no personal data). */
/** Administrators and auditors of the tenant: the audit surfaces (also checked as such by the download routes). */
export const readsAuditTrailAs = (p: Principal) => p.kind === 'AUDITOR' || (p.kind === 'USER' && p.role === UserRole.ADMIN);
export const readsAuditTrail = principalRule('readsAuditTrail', (ctx) => ctx.principal !== null && readsAuditTrailAs(ctx.principal));
/**
 * The audit reports (access summary, denials, privileged access, disclosures, request compliance, chain
 * status): administrators and auditors of the tenant. Reports carry pseudonyms, roles, categories,
 * purposes and counts, never a name or an email, so what an auditor may read of them is all of it.
 */
export const readsReports = readsAuditTrail;
/** SERVICE credentials with `roster:import`: the SIS sync. */
export const importsRosters = principalRule('importsRosters', (ctx) => ctx.access.hasScope('roster:import'));
/** Members and `roster:read` services: the directory (members, courses, rosters), rows scoped by the queries. */
export const readsDirectory = principalRule('readsDirectory', (ctx) => ctx.access.isUser || ctx.access.hasScope('roster:read'));

/** Names, email, student number, account facts: the member, admins, their instructors, `roster:read` services. */
export const seesPrivateProfile = rowRule<User>('seesPrivateProfile', (ctx, user) => ctx.access.canSeePrivateProfileOf(user.id));
/** A member's own enrollments: the member, admins and `roster:read` services. */
export const seesEnrollmentsOf = rowRule<User>('seesEnrollmentsOf', (ctx, user) =>
  ctx.access.readsWholeDirectory || ctx.access.userIdOrNull === user.id);
/** A grade: the student, the course's instructors, admins. */
export const seesGrade = rowRule<Enrollment>('seesGrade', (ctx, enrollment) => ctx.access.canSeeGrade(enrollment));

/**
 * Fields answered with null (and no error) when their row rule says no: a student's roster query
 * returns classmates with their display names and null emails, rather than an error per classmate.
 * Every other denial is a FORBIDDEN error. All of these fields are nullable in the schema, so a
 * denial never wipes the list around it.
 */
export const REDACTED_WHEN_DENIED: ReadonlySet<string> = new Set([
  'User.email', 'User.givenName', 'User.familyName', 'User.studentNumber',
  'User.status', 'User.source', 'User.createdAt', 'User.updatedAt', 'User.enrollments',
  'Enrollment.finalGrade', 'Enrollment.gradedAt', 'Viewer.user',
]);

const structural = { '*': isAuthenticated };

export const ruleTree: IRules = {
  Query: {
    viewer: isAuthenticated,
    tenant: readsDirectory,
    users: readsDirectory,
    user: readsDirectory,
    courses: readsDirectory,
    course: readsDirectory,
    tokens: isAdmin,
    auditCheckpoint: readsAuditTrail,
    auditInclusionProof: readsAuditTrail,
    auditConsistencyProof: readsAuditTrail,
    auditPublicKeys: readsAuditTrail,
    auditEvents: readsAuditTrail,
    recordsOfProcessing: readsAuditTrail,
    myAccessHistory: isMember,
    accessHistory: isAdmin,
    // Data-subject requests: members file and follow their own; administrators decide (rows scoped by the service).
    privacySettings: isMember,
    myDataRequests: isMember,
    dataRequests: isAdmin,
    dataRequest: isMember,
    erasurePlan: isMember,
    legalHolds: isAdmin,
    recipientNotices: isAdmin,
    retentionSchedule: isMember,
    // Third-party tools: administrators register and place them; members launch them (rows scoped by the service).
    ltiTools: isAdmin,
    // Breaches: an audit surface. Auditors see them pseudonymously (the people behind them are admin-only fields).
    incidents: readsAuditTrail,
    incident: readsAuditTrail,
    // Audit reports: pseudonymous aggregates of the log and of request handling.
    accessSummaryReport: readsReports,
    deniedAttemptsReport: readsReports,
    privilegedAccessReport: readsReports,
    disclosuresReport: readsReports,
    requestComplianceReport: readsReports,
    auditChainStatusReport: readsReports,
  },
  Mutation: {
    createUser: isAdmin,
    updateUser: isAdmin,
    deactivateUser: isAdmin,
    updateMyProfile: isMember,
    createCourse: isAdmin,
    updateCourse: isAdmin,
    archiveCourse: isAdmin,
    enroll: isAdmin,
    unenroll: isAdmin,
    setGrade: isStaff,
    createPost: isMember,
    editPost: isMember,
    deletePost: isMember,
    createComment: isMember,
    editComment: isMember,
    deleteComment: isMember,
    react: isMember,
    unreact: isMember,
    issueToken: isAdmin,
    revokeToken: isAdmin,
    fileDataRequest: isMember,
    importRoster: importsRosters,
    approveDataRequest: isAdmin,
    rejectDataRequest: isAdmin,
    extendDataRequest: isAdmin,
    cancelDataRequest: isMember,
    retryDataRequest: isAdmin,
    liftRestriction: isAdmin,
    placeLegalHold: isAdmin,
    releaseLegalHold: isAdmin,
    markNoticeSent: isAdmin,
    setRetentionPeriod: isAdmin,
    updatePrivacySettings: isAdmin,
    registerLtiTool: isAdmin,
    updateLtiTool: isAdmin,
    attachLtiTool: isAdmin,
    detachLtiTool: isAdmin,
    launchLtiTool: isMember,
    openIncident: isAdmin,
    updateIncident: isAdmin,
    recordAuthorityNotification: isAdmin,
    recordSubjectNotification: isAdmin,
    recordNotificationDelay: isAdmin,
    revokeIncidentCredential: isAdmin,
    closeIncident: isAdmin,
  },
  // The caller's own view of itself. Auditors and services have no member: `user` is null for them.
  Viewer: { '*': isAuthenticated, user: isMember },
  // An institution's name and slug are not personal data; every principal of the tenant may read them.
  Tenant: { '*': isAuthenticated },
  User: {
    id: readsDirectory,
    displayName: readsDirectory,
    avatarUrl: readsDirectory,
    role: readsDirectory,
    email: seesPrivateProfile,
    givenName: seesPrivateProfile,
    familyName: seesPrivateProfile,
    studentNumber: seesPrivateProfile,
    status: seesPrivateProfile,
    source: seesPrivateProfile,
    createdAt: seesPrivateProfile,
    updatedAt: seesPrivateProfile,
    enrollments: seesEnrollmentsOf,
  },
  Course: {
    id: readsDirectory,
    code: readsDirectory,
    title: readsDirectory,
    description: readsDirectory,
    status: readsDirectory,
    createdAt: readsDirectory,
    updatedAt: readsDirectory,
    archivedAt: readsDirectory,
    memberCount: readsDirectory,
    viewerRole: readsDirectory,
    roster: readsDirectory,
    // Course content is for members of the course (rows scoped by the course query).
    posts: isMember,
    tools: isMember,
  },
  Enrollment: {
    id: readsDirectory,
    role: readsDirectory,
    createdAt: readsDirectory,
    course: readsDirectory,
    user: readsDirectory,
    finalGrade: seesGrade,
    gradedAt: seesGrade,
    recentPosts: isMember,
  },
  Post: { '*': isMember },
  Comment: { '*': isMember },
  ReactionSummary: { '*': isMember },
  ApiToken: { '*': isAdmin },
  AuditCheckpoint: { '*': readsAuditTrail },
  AuditInclusionProof: { '*': readsAuditTrail },
  AuditConsistencyProof: { '*': readsAuditTrail },
  AuditPublicKey: { '*': readsAuditTrail },
  AuditEvent: { '*': readsAuditTrail },
  AuditEventSubject: { '*': readsAuditTrail },
  RecordsOfProcessing: { '*': readsAuditTrail },
  ProcessingPurpose: { '*': readsAuditTrail },
  ProcessedSubjects: { '*': readsAuditTrail },
  ProcessedCategory: { '*': readsAuditTrail },
  ProcessingRecipient: { '*': readsAuditTrail },
  ProcessingTransfer: { '*': readsAuditTrail },
  AuditEventConnection: structural,
  AuditEventEdge: structural,
  AccessSummaryReport: { '*': readsReports },
  AccessSummaryRow: { '*': readsReports },
  DeniedAttemptsReport: { '*': readsReports },
  DeniedAttemptRow: { '*': readsReports },
  PrivilegedAccessReport: { '*': readsReports },
  PrivilegedAccessRow: { '*': readsReports },
  DisclosuresReport: { '*': readsReports },
  DisclosureRow: { '*': readsReports },
  RequestComplianceReport: { '*': readsReports },
  RequestComplianceRow: { '*': readsReports },
  OverdueRequestRow: { '*': readsReports },
  AuditChainStatus: { '*': readsReports },
  // A person's own history, or an admin's view of a member's (the root fields decide whose).
  AccessRecord: { '*': isMember },
  AccessRecordConnection: structural,
  // A request is its subject's or an administrator's (the queries return no one else's).
  DataSubjectRequest: { '*': isMember },
  RectificationChange: { '*': isMember },
  DataRequestTransition: { '*': isMember },
  DataSubjectRequestConnection: structural,
  DataSubjectRequestEdge: structural,
  PrivacySettings: { '*': isMember },
  ErasurePlan: { '*': isMember },
  ErasurePlanEntry: { '*': isMember },
  ErasureRowCounts: { '*': isMember },
  ErasureReceipt: { '*': isMember },
  LegalHold: { '*': isAdmin },
  RecipientNotice: { '*': isAdmin },
  RetentionEntry: { '*': isMember },
  // Members see which tools a course offers and how much of them each receives; its set-up is the administrators'.
  LtiTool: {
    id: isMember, name: isMember, privacyLevel: isMember, enabled: isMember,
    clientId: isAdmin, launchUrl: isAdmin, notificationUrl: isAdmin, deploymentId: isAdmin, createdAt: isAdmin, updatedAt: isAdmin, courses: isAdmin,
  },
  LtiLaunch: { '*': isMember },
  DataExport: { '*': isMember },
  // What an import answers goes only to the integration that sent the files.
  RosterImportResultType: { '*': importsRosters },
  RosterFileCount: { '*': importsRosters },
  RosterEntityDiff: { '*': importsRosters },
  RosterRowError: { '*': importsRosters },
  RosterSkippedRow: { '*': importsRosters },
  RosterIgnoredFile: { '*': importsRosters },
  // Incidents: counts, categories and pseudonyms for auditors; who the people are only for administrators.
  Incident: { '*': readsAuditTrail, suspectMember: isAdmin, openedBy: isAdmin },
  IncidentHistoryEntry: { '*': readsAuditTrail, by: isAdmin },
  IncidentNotification: { '*': readsAuditTrail },
  IncidentImpact: { '*': readsAuditTrail },
  IncidentKindCount: { '*': readsAuditTrail },
  IncidentCategoryCount: { '*': readsAuditTrail },
  IncidentResourceCount: { '*': readsAuditTrail },
  IncidentAffectedSubject: { '*': readsAuditTrail, person: isAdmin },
  IncidentConnection: structural,
  IncidentEdge: structural,
  IncidentAffectedSubjectConnection: structural,
  IncidentAffectedSubjectEdge: structural,
  AccessRecordEdge: structural,
  IssuedTokenPayload: { '*': isAdmin },
  PageInfo: structural,
  UserConnection: structural,
  UserEdge: structural,
  CourseConnection: structural,
  CourseEdge: structural,
  EnrollmentConnection: structural,
  EnrollmentEdge: structural,
  PostConnection: structural,
  PostEdge: structural,
  CommentConnection: structural,
  CommentEdge: structural,
  ApiTokenConnection: structural,
  ApiTokenEdge: structural,
};

/**
 * What each rule guarantees when it allows: itself and every weaker principal rule. Row rules guarantee
 * the principal rules they can only pass under (a grade is only ever shown to a member, say).
 */
const PRINCIPAL_ORDER = [isAuthenticated, readsDirectory, isMember, isStaff, isAdmin, readsAuditTrail] as const;
const GUARANTEES = new Map<unknown, ReadonlySet<unknown>>([
  [isAuthenticated, new Set([isAuthenticated])],
  [readsDirectory, new Set([isAuthenticated, readsDirectory])],
  [isMember, new Set([isAuthenticated, readsDirectory, isMember])],
  [isStaff, new Set([isAuthenticated, readsDirectory, isMember, isStaff])],
  [isAdmin, new Set(PRINCIPAL_ORDER)],
  [readsAuditTrail, new Set([isAuthenticated, readsAuditTrail])],
  [seesPrivateProfile, new Set([isAuthenticated, readsDirectory])],
  [seesEnrollmentsOf, new Set([isAuthenticated, readsDirectory])],
  [seesGrade, new Set([isAuthenticated, readsDirectory, isMember])],
]);

function ruleOf(typeName: string, field: string): unknown {
  const rules = (ruleTree as Record<string, Record<string, unknown>>)[typeName];
  return rules?.[field] ?? rules?.['*'];
}

/**
 * The principal rules that already hold whenever an object of each type is resolved: the intersection,
 * over every field that leads to the type, of what that field's rule guarantees plus what already held
 * for its parent. Computed as a greatest fixpoint (types start at "everything", roots at "nothing").
 */
export function guaranteedOnEntry(schema: GraphQLSchema): Map<string, Set<unknown>> {
  const roots = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name]);
  const types = Object.values(schema.getTypeMap()).filter((t) => isObjectType(t) && !t.name.startsWith('__'));
  const held = new Map<string, Set<unknown>>(types.map((t) => [t.name, roots.has(t.name) ? new Set() : new Set(PRINCIPAL_ORDER)]));
  for (let changed = true; changed;) {
    changed = false;
    for (const parent of types) {
      if (!isObjectType(parent)) continue;
      for (const [name, field] of Object.entries(parent.getFields())) {
        const target = getNamedType(field.type);
        if (!isObjectType(target) || roots.has(target.name)) continue;
        const via = new Set([...(GUARANTEES.get(ruleOf(parent.name, name)) ?? []), ...held.get(parent.name)!]);
        const current = held.get(target.name)!;
        for (const r of [...current]) {
          if (!via.has(r)) {
            current.delete(r);
            changed = true;
          }
        }
      }
    }
  }
  return held;
}

/**
 * Runs a row rule without graphql-shield's asynchronous wrapper: the same check, the same outcome
 * (resolve, redact to null, or FORBIDDEN), the same error surfacing, but no promise when the check
 * answers synchronously, which it does once `Access.prepareRowChecks` has run for the list.
 */
function synchronousRowRule(check: RowCheck) {
  return (resolve: (...a: unknown[]) => unknown, parent: unknown, args: unknown, ctx: RequestContext, info: GraphQLResolveInfo) => {
    const decide = (allowed: boolean) => (allowed ? resolve(parent, args, ctx, info) : onDenied(null, parent, args, ctx, info));
    try {
      const verdict = check(ctx, parent as never);
      return verdict instanceof Promise ? verdict.then(decide, asError) : decide(verdict);
    } catch (err) {
      return asError(err);
    }
  };
}

/**
 * The shield middleware, tuned for large lists without changing any answer:
 * - a principal rule on a field of a type that every path into the type already guarantees is dropped:
 *   principal rules give one answer per request, so checking `readsDirectory` again on each of 200
 *   roster rows is pure cost (each wrapped field becomes a chain of promises);
 * - row rules (ownership: private profile, grades) stay on every row but run synchronously.
 */
export function permissionsFor(schema: GraphQLSchema): Record<string, IMiddlewareFieldMap> {
  const generated = permissions().generate(schema) as Record<string, IMiddlewareFieldMap>;
  const held = guaranteedOnEntry(schema);
  for (const [typeName, fields] of Object.entries(generated)) {
    for (const field of Object.keys(fields)) {
      const r = ruleOf(typeName, field);
      const rowCheck = ROW_CHECKS.get(r);
      if (rowCheck) fields[field] = synchronousRowRule(rowCheck) as never;
      else if ((PRINCIPAL_ORDER as readonly unknown[]).includes(r) && held.get(typeName)?.has(r)) delete fields[field];
    }
  }
  return generated;
}

/** Denied: null for redacted fields, FORBIDDEN for everything else. */
function onDenied(_err: unknown, _parent: unknown, _args: unknown, _ctx: RequestContext, info: GraphQLResolveInfo) {
  const coordinate = `${info.parentType.name}.${info.fieldName}`;
  return REDACTED_WHEN_DENIED.has(coordinate) ? null : forbidden();
}

/** The graphql-shield middleware: deny by default, real resolver errors pass through untouched. */
export function permissions() {
  return shield(ruleTree, {
    fallbackRule: rule('denyByDefault', { cache: 'contextual' })(() => false),
    fallbackError: onDenied as never,
    allowExternalErrors: true,
    debug: false,
  });
}
