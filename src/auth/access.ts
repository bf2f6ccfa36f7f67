import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from './principal';
import { UserRole } from '../modules/user/user.entity';
import { CourseRole } from '../modules/course/enrollment.entity';
import { forbidden } from '../shared/errors';

/**
 * What the caller is to the rest of the tenant: its course memberships and, for instructors, the
 * students they teach. Loaded lazily, at most once per request, and shared by every check.
 */
export class Access {
  private memberships?: Promise<Map<string, CourseRole>>;
  private taught?: Promise<Set<string>>;

  constructor(private readonly em: EntityManager, readonly principal: Principal) {}

  get tenantId(): string {
    return this.principal.tenantId;
  }

  get userId(): string {
    return this.principal.userId;
  }

  get isAdmin(): boolean {
    return this.principal.role === UserRole.ADMIN;
  }

  requireAdmin(): void {
    if (!this.isAdmin) throw forbidden('Only an administrator may do this.');
  }

  /** courseId → the caller's role in that course. */
  courseRoles(): Promise<Map<string, CourseRole>> {
    this.memberships ??= this.em
      .execute<{ course_id: string; role: CourseRole }[]>(
        'select course_id, role from enrollment where tenant_id = ? and user_id = ?',
        [this.tenantId, this.userId],
      )
      .then((rows) => new Map(rows.map((r) => [r.course_id, r.role])));
    return this.memberships;
  }

  /** Ids of students enrolled in courses the caller teaches. */
  taughtStudents(): Promise<Set<string>> {
    this.taught ??= this.em
      .execute<{ user_id: string }[]>(
        `select distinct s.user_id from enrollment s
           join enrollment i on i.course_id = s.course_id and i.user_id = ? and i.role = 'INSTRUCTOR'
          where s.tenant_id = ? and s.role = 'STUDENT'`,
        [this.userId, this.tenantId],
      )
      .then((rows) => new Set(rows.map((r) => r.user_id)));
    return this.taught;
  }

  async canReadCourse(courseId: string): Promise<boolean> {
    return this.isAdmin || (await this.courseRoles()).has(courseId);
  }

  async teaches(courseId: string): Promise<boolean> {
    return (await this.courseRoles()).get(courseId) === CourseRole.INSTRUCTOR;
  }

  /** May the caller see this member's private profile (names, email, student number)? */
  async canSeePrivateProfileOf(userId: string): Promise<boolean> {
    if (this.isAdmin || userId === this.userId) return true;
    if (this.principal.role !== UserRole.INSTRUCTOR) return false;
    return (await this.taughtStudents()).has(userId);
  }

  /** May the caller see the grade of this enrollment? The student, the course's instructors, admins. */
  async canSeeGrade(enrollment: { courseId: string; userId: string }): Promise<boolean> {
    return this.isAdmin || enrollment.userId === this.userId || (await this.teaches(enrollment.courseId));
  }
}
