import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal, ServiceScope } from './principal';
import { UserRole } from '../modules/user/user.entity';
import { CourseRole } from '../modules/course/enrollment.entity';
import { forbidden } from '../shared/errors';

/**
 * What the caller is to the rest of the tenant: its course memberships and, for instructors, the
 * students they teach. Loaded lazily, at most once per request, and shared by every check (the
 * graphql-shield rules and the services' row scoping alike).
 */
export class Access {
  private memberships?: Promise<Map<string, CourseRole>>;
  private instructorFactsLoading?: Promise<unknown>;
  // The same facts once loaded, so per-row checks can answer without another promise.
  private membershipsLoaded?: Map<string, CourseRole>;
  private taughtLoaded?: Set<string>;

  constructor(private readonly em: EntityManager, readonly principal: Principal) {}

  get tenantId(): string {
    return this.principal.tenantId;
  }

  /** True for member principals (admins, instructors, students). */
  get isUser(): boolean {
    return this.principal.kind === 'USER';
  }

  /** The calling member's id. Only member principals have one; code reached by others is a bug, refused. */
  get userId(): string {
    if (this.principal.kind !== 'USER') throw forbidden('This credential does not belong to a member.');
    return this.principal.userId;
  }

  /** The member's id, or null for auditors and services. */
  get userIdOrNull(): string | null {
    return this.principal.kind === 'USER' ? this.principal.userId : null;
  }

  /** The member's tenant role, or null for auditors and services. */
  get role(): UserRole | null {
    return this.principal.kind === 'USER' ? this.principal.role : null;
  }

  get isAdmin(): boolean {
    return this.role === UserRole.ADMIN;
  }

  get isInstructor(): boolean {
    return this.role === UserRole.INSTRUCTOR;
  }

  hasScope(scope: ServiceScope): boolean {
    return this.principal.kind === 'SERVICE' && this.principal.scopes.includes(scope);
  }

  /** Reads the whole tenant's directory (members, courses, rosters): admins and `roster:read` services. */
  get readsWholeDirectory(): boolean {
    return this.isAdmin || this.hasScope('roster:read');
  }

  requireAdmin(): void {
    if (!this.isAdmin) throw forbidden('Only an administrator may do this.');
  }

  /** courseId → the caller's role in that course (empty for non-members). */
  courseRoles(): Promise<Map<string, CourseRole>> {
    const userId = this.userIdOrNull;
    if (userId === null) return Promise.resolve(new Map());
    if (this.isInstructor) return this.instructorFacts().then(() => this.membershipsLoaded!);
    this.memberships ??= this.em
      .execute<{ course_id: string; role: CourseRole }[]>(
        'select course_id, role from enrollment where tenant_id = ? and user_id = ?',
        [this.tenantId, userId],
      )
      .then((rows) => (this.membershipsLoaded = new Map(rows.map((r) => [r.course_id, r.role]))));
    return this.memberships;
  }

  /** Ids of students enrolled in courses the caller teaches. */
  taughtStudents(): Promise<Set<string>> {
    if (!this.isInstructor) return Promise.resolve(new Set());
    return this.instructorFacts().then(() => this.taughtLoaded!);
  }

  /** An instructor's courses and the students in the ones they teach, in one statement. */
  private instructorFacts(): Promise<void> {
    this.instructorFactsLoading ??= this.em
      .execute<{ course_id: string; role: CourseRole; student_id: string | null }[]>(
        `select m.course_id, m.role, s.user_id as student_id
           from enrollment m
           left join enrollment s on m.role = 'INSTRUCTOR' and s.course_id = m.course_id and s.role = 'STUDENT'
          where m.tenant_id = ? and m.user_id = ?`,
        [this.tenantId, this.userId],
      )
      .then((rows) => {
        this.membershipsLoaded = new Map(rows.map((r) => [r.course_id, r.role]));
        this.taughtLoaded = new Set(rows.flatMap((r) => (r.student_id ? [r.student_id] : [])));
      });
    return this.instructorFactsLoading.then(() => undefined);
  }

  /**
   * Loads what per-row checks need (an instructor's courses and students) before a list of rows is
   * handed to GraphQL, so each row's check answers synchronously. Nothing to load for anyone else.
   */
  async prepareRowChecks(): Promise<void> {
    if (this.isInstructor) await this.instructorFacts();
  }

  async canReadCourse(courseId: string): Promise<boolean> {
    return this.readsWholeDirectory || (await this.courseRoles()).has(courseId);
  }

  async teaches(courseId: string): Promise<boolean> {
    return (await this.courseRoles()).get(courseId) === CourseRole.INSTRUCTOR;
  }

  /**
   * May the caller see this member's private profile (names, email, student number)? Called once per
   * row of large lists, so it answers synchronously whenever the facts are already loaded.
   */
  canSeePrivateProfileOf(userId: string): boolean | Promise<boolean> {
    if (this.readsWholeDirectory || userId === this.userIdOrNull) return true;
    if (!this.isInstructor) return false;
    if (this.taughtLoaded) return this.taughtLoaded.has(userId);
    return this.taughtStudents().then((taught) => taught.has(userId));
  }

  /** May the caller see the grade of this enrollment? The student, the course's instructors, admins. */
  canSeeGrade(enrollment: { courseId: string; userId: string }): boolean | Promise<boolean> {
    if (!this.isUser) return false;
    if (this.isAdmin || enrollment.userId === this.userIdOrNull) return true;
    if (!this.isInstructor) return false; // only instructors teach
    if (this.membershipsLoaded) return this.membershipsLoaded.get(enrollment.courseId) === CourseRole.INSTRUCTOR;
    return this.teaches(enrollment.courseId);
  }
}
