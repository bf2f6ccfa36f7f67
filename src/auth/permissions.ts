import { rule, shield, type IRules } from 'graphql-shield';
import type { GraphQLResolveInfo } from 'graphql';
import type { RequestContext } from '../server/context';
import type { User } from '../modules/user/user.entity';
import type { Enrollment } from '../modules/course/enrollment.entity';
import { forbidden } from '../shared/errors';

/**
 * The role matrix, as graphql-shield rules. Every field of every object type has an explicit rule here
 * (a test fails otherwise) and anything missing falls back to deny.
 *
 * Two kinds of rules:
 * - principal rules look only at who is calling; they are cached once per request ('contextual').
 * - row rules look at the object being resolved (its `parent`), so they are never cached across
 *   parents ('no_cache'); the facts they need (the caller's courses and students) are loaded once per
 *   request by `Access`, so a 200-row roster costs no extra statement.
 *
 * Which rows come back at all is decided in the queries themselves (services scope their SQL); these
 * rules decide which fields of those rows the caller may read.
 */

/**
 * A rule whose own failure (a database error, say) surfaces as that error, not as a silent denial:
 * graphql-shield turns a throwing rule into `false`, which would hide real faults behind FORBIDDEN.
 */
function principalRule(name: string, check: (ctx: RequestContext) => boolean) {
  return rule(name, { cache: 'contextual' })((_parent, _args, ctx: RequestContext) => {
    try {
      return check(ctx);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  });
}

function rowRule<P>(name: string, check: (ctx: RequestContext, parent: P) => boolean | Promise<boolean>) {
  return rule(name, { cache: 'no_cache' })(async (parent: P, _args, ctx: RequestContext) => {
    try {
      return await check(ctx, parent);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  });
}

/** Any authenticated principal (requests without one are refused before execution anyway). */
export const isAuthenticated = principalRule('isAuthenticated', (ctx) => ctx.principal !== null);
/** Members: administrators, instructors, students. */
export const isMember = principalRule('isMember', (ctx) => ctx.access.isUser);
export const isAdmin = principalRule('isAdmin', (ctx) => ctx.access.isAdmin);
/** Administrators and instructors (grading). */
export const isStaff = principalRule('isStaff', (ctx) => ctx.access.isAdmin || ctx.access.isInstructor);
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
  'Enrollment.finalGrade', 'Enrollment.gradedAt',
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
  },
  // The caller's own view of itself; its `user` and `tenant` carry their own rules.
  Viewer: { '*': isAuthenticated },
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
