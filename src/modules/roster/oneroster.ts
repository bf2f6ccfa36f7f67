/**
 * OneRoster 1.1 CSV bulk and delta files: what Custos reads, what it checks row by row, and how each
 * row maps to Custos. Cross-file checks (references, e-mail collisions) and the writes are import.ts's.
 *
 * Read: manifest.csv, orgs.csv, users.csv, courses.csv, classes.csv, enrollments.csv.
 * Ignored on purpose (reported as ignored): demographics.csv (birth date, sex, race and ethnicity —
 * special-category data Custos has no purpose for), academicSessions.csv (Custos courses have no terms),
 * and the gradebook and resource files (resources, classResources, courseResources, categories,
 * lineItems, results).
 *
 * Mapping:
 * - orgs: kept as SIS records (districts, schools) for references; the tenant is the institution.
 * - users: teacher → INSTRUCTOR, student → STUDENT, administrator → ADMIN. aide and proctor are skipped
 *   (Custos has no role that gives them exactly their rights, and INSTRUCTOR would show them grades);
 *   guardian, parent and relative are skipped (Custos has no guardian accounts, and creating accounts for
 *   them would hold data without a purpose). Each skipped row is reported with its reason.
 *   givenName, familyName, email and (for students) identifier → student number. enabledUser=false
 *   deactivates. Not imported: username, userIds, middleName, sms, phone, grades, agentSourcedIds and,
 *   never, password.
 * - courses: catalogue entries, kept as SIS records; a class's course gives its Custos description.
 * - classes → Custos courses (code = classCode, or the sourcedId without one; title = class title).
 * - enrollments: teacher → INSTRUCTOR, student → STUDENT in the class's course; administrator and proctor
 *   enrollments are skipped with a reason. Several enrollments of one person in one class (one per term)
 *   are one Custos enrollment.
 * - status `tobedeleted` (and `inactive`, from exports older than 1.1): users are deactivated, classes
 *   archived, enrollments removed (when no other active enrollment row names the same person and class).
 *   In a bulk file, a record imported before and absent now is treated the same way.
 */
import { UserRole } from '../user/user.entity';
import { CourseRole } from '../course/enrollment.entity';

export type RosterFile = 'manifest' | 'orgs' | 'users' | 'courses' | 'classes' | 'enrollments';
export type RecordKind = 'org' | 'user' | 'course' | 'class' | 'enrollment';
export type FileMode = 'bulk' | 'delta' | 'absent';

export const KIND_OF: Record<Exclude<RosterFile, 'manifest'>, RecordKind> = {
  orgs: 'org', users: 'user', courses: 'course', classes: 'class', enrollments: 'enrollment',
};

/** The exact OneRoster 1.1 headers of the files Custos reads (extra `metadata.*` columns are allowed). */
export const HEADERS: Record<RosterFile, readonly string[]> = {
  manifest: ['propertyName', 'value'],
  orgs: ['sourcedId', 'status', 'dateLastModified', 'name', 'type', 'identifier', 'parentSourcedId'],
  users: ['sourcedId', 'status', 'dateLastModified', 'enabledUser', 'orgSourcedIds', 'role', 'username', 'userIds', 'givenName',
    'familyName', 'middleName', 'identifier', 'email', 'sms', 'phone', 'agentSourcedIds', 'grades', 'password'],
  courses: ['sourcedId', 'status', 'dateLastModified', 'schoolYearSourcedId', 'title', 'courseCode', 'grades', 'orgSourcedId', 'subjects',
    'subjectCodes'],
  classes: ['sourcedId', 'status', 'dateLastModified', 'title', 'grades', 'courseSourcedId', 'classCode', 'classType', 'location',
    'schoolSourcedId', 'termSourcedIds', 'subjects', 'subjectCodes', 'periods'],
  enrollments: ['sourcedId', 'status', 'dateLastModified', 'classSourcedId', 'schoolSourcedId', 'userSourcedId', 'role', 'primary',
    'beginDate', 'endDate'],
};

/** Data files in the order they are read (referenced files first). */
export const DATA_FILES = ['orgs', 'courses', 'classes', 'users', 'enrollments'] as const;
export type DataFile = (typeof DATA_FILES)[number];

/** Files of the 1.1 bulk format Custos does not read, and why. */
export const IGNORED_FILES: Record<string, string> = {
  'demographics.csv': 'special-category data (birth date, sex, race, ethnicity) Custos has no purpose for',
  'academicSessions.csv': 'terms and school years: Custos courses have no terms',
  'resources.csv': 'learning resources are not part of Custos',
  'classResources.csv': 'learning resources are not part of Custos',
  'courseResources.csv': 'learning resources are not part of Custos',
  'categories.csv': 'gradebook categories are not part of Custos',
  'lineItems.csv': 'gradebook line items are not part of Custos',
  'results.csv': 'gradebook results are not part of Custos',
};

export const USER_ROLES = ['administrator', 'aide', 'guardian', 'parent', 'proctor', 'relative', 'student', 'teacher'] as const;
export const ENROLLMENT_ROLES = ['administrator', 'proctor', 'student', 'teacher'] as const;
export const ORG_TYPES = ['department', 'school', 'district', 'local', 'state', 'national'] as const;

const USER_ROLE_MAP: Record<string, UserRole | string> = {
  administrator: UserRole.ADMIN,
  teacher: UserRole.INSTRUCTOR,
  student: UserRole.STUDENT,
  aide: 'aides are not imported: no Custos role gives exactly their rights (INSTRUCTOR would show them grades)',
  proctor: 'proctors are not imported: no Custos role gives exactly their rights',
  guardian: 'guardians are not imported: Custos has no guardian accounts',
  parent: 'parents are not imported: Custos has no guardian accounts',
  relative: 'relatives are not imported: Custos has no guardian accounts',
};

const ENROLLMENT_ROLE_MAP: Record<string, CourseRole | string> = {
  teacher: CourseRole.INSTRUCTOR,
  student: CourseRole.STUDENT,
  administrator: 'administrator enrollments are not imported: administrators see every course already',
  proctor: 'proctor enrollments are not imported: no Custos course role fits',
};

/** A per-row (or per-file, line null) problem, with a stable code. */
export interface RowError {
  file: string;
  line: number | null;
  sourcedId: string | null;
  code: RosterErrorCode;
  message: string;
}

export type RosterErrorCode =
  | 'MISSING_FILE' | 'MISSING_COLUMN' | 'UNEXPECTED_FILE' | 'MANIFEST_VERSION' | 'BAD_MANIFEST' | 'FILE_TOO_LARGE' | 'MALFORMED_CSV'
  | 'MALFORMED_ROW' | 'REQUIRED_FIELD' | 'BAD_VALUE' | 'UNKNOWN_ROLE' | 'BAD_DATE' | 'DUPLICATE_ID' | 'DANGLING_REFERENCE' | 'CONFLICT';

export type Status = 'active' | 'tobedeleted';

interface Base { sourcedId: string; status: Status; line: number }
export interface OrgRow extends Base { name: string; type: string; parent: string | null }
export interface CourseRow extends Base { title: string; courseCode: string | null; org: string }
export interface ClassRow extends Base { title: string; classCode: string | null; course: string; school: string }
export interface UserRow extends Base {
  enabled: boolean; orgs: string[]; role: UserRole | null; skip: string | null; givenName: string; familyName: string;
  email: string | null; studentNumber: string | null;
}
export interface EnrollmentRow extends Base {
  classId: string; school: string; user: string; role: CourseRole | null; skip: string | null; beginDate: string | null; endDate: string | null;
}
export type ParsedRow = OrgRow | CourseRow | ClassRow | UserRow | EnrollmentRow;

/** Longest value accepted in any cell: longer ones are refused row by row rather than stored. */
export const MAX_CELL = 1_000;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,251}\.[^\s@]{1,63}$/;

/** A real calendar date (2021-02-30 is refused). */
function isDate(text: string): boolean {
  const m = DATE.exec(text) ?? DATETIME.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return false;
  if (m.length > 4 && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 60)) return false;
  return true;
}

/** Splits a multi-value cell ("a,b" inside quotes in the file). */
const list = (cell: string) => cell.split(',').map((v) => v.trim()).filter((v) => v !== '');

/**
 * Reads one data row into its typed form, or reports why it cannot be imported. `cell(name)` gives
 * the trimmed value of a column ('' when empty or absent). Only row-local rules are checked here.
 */
export function parseRow(file: DataFile, line: number, cell: (column: string) => string, report: (e: RowError) => void): ParsedRow | null {
  const name = `${file}.csv`;
  const sourcedId = cell('sourcedId') || null;
  let ok = true;
  const fail = (code: RosterErrorCode, message: string) => {
    ok = false;
    report({ file: name, line, sourcedId, code, message });
  };
  const required = (column: string) => {
    const value = cell(column);
    if (value === '') fail('REQUIRED_FIELD', `${column} is required`);
    return value;
  };
  const optional = (column: string) => cell(column) || null;
  const date = (column: string) => {
    const value = cell(column);
    if (value && !isDate(value)) fail('BAD_DATE', `${column} "${value.slice(0, 40)}" is not a date (YYYY-MM-DD${column === 'dateLastModified' ? ' or an ISO 8601 date-time' : ''})`);
    return value || null;
  };

  required('sourcedId');
  const rawStatus = cell('status');
  let status: Status = 'active';
  if (rawStatus === 'tobedeleted' || rawStatus === 'inactive') status = 'tobedeleted';
  else if (rawStatus !== '' && rawStatus !== 'active') fail('BAD_VALUE', `status "${rawStatus.slice(0, 40)}" is not active or tobedeleted`);
  date('dateLastModified');
  const base = { sourcedId: sourcedId ?? '', status, line };

  let row: ParsedRow;
  switch (file) {
    case 'orgs': {
      const type = required('type');
      if (type && !(ORG_TYPES as readonly string[]).includes(type)) fail('BAD_VALUE', `type "${type.slice(0, 40)}" is not one of ${ORG_TYPES.join(', ')}`);
      row = { ...base, name: required('name'), type, parent: optional('parentSourcedId') };
      break;
    }
    case 'courses':
      row = { ...base, title: required('title'), courseCode: optional('courseCode'), org: required('orgSourcedId') };
      break;
    case 'classes':
      row = {
        ...base, title: required('title'), classCode: optional('classCode'), course: required('courseSourcedId'),
        school: required('schoolSourcedId'),
      };
      break;
    case 'users': {
      const roleCell = required('role');
      const mapped = roleCell ? USER_ROLE_MAP[roleCell] : undefined;
      if (roleCell && mapped === undefined) fail('UNKNOWN_ROLE', `role "${roleCell.slice(0, 40)}" is not one of ${USER_ROLES.join(', ')}`);
      const isRole = mapped !== undefined && (Object.values(UserRole) as string[]).includes(mapped);
      const enabledCell = required('enabledUser');
      if (enabledCell && enabledCell !== 'true' && enabledCell !== 'false') fail('BAD_VALUE', `enabledUser "${enabledCell.slice(0, 40)}" is not true or false`);
      const orgs = list(required('orgSourcedIds'));
      const givenName = required('givenName');
      const familyName = required('familyName');
      const email = optional('email')?.toLowerCase() ?? null;
      const skip = isRole ? null : mapped ?? null;
      if (isRole && status === 'active') {
        if (!email) fail('REQUIRED_FIELD', 'email is required by Custos to sign a person in');
        else if (!EMAIL.test(email)) fail('BAD_VALUE', `email "${email.slice(0, 60)}" is not an e-mail address`);
      }
      for (const [column, value] of [['givenName', givenName], ['familyName', familyName]] as const) {
        if (value.length > 100) fail('BAD_VALUE', `${column} is longer than 100 characters`);
      }
      const identifier = optional('identifier');
      if (identifier && identifier.length > 64) fail('BAD_VALUE', 'identifier is longer than 64 characters');
      row = {
        ...base, enabled: enabledCell !== 'false', orgs, role: isRole ? (mapped as UserRole) : null, skip, givenName, familyName, email,
        studentNumber: mapped === UserRole.STUDENT ? identifier : null,
      };
      break;
    }
    case 'enrollments': {
      const roleCell = required('role');
      const mapped = roleCell ? ENROLLMENT_ROLE_MAP[roleCell] : undefined;
      if (roleCell && mapped === undefined) fail('UNKNOWN_ROLE', `role "${roleCell.slice(0, 40)}" is not one of ${ENROLLMENT_ROLES.join(', ')}`);
      const isRole = mapped !== undefined && (Object.values(CourseRole) as string[]).includes(mapped);
      const primary = cell('primary');
      if (primary && primary !== 'true' && primary !== 'false') fail('BAD_VALUE', `primary "${primary.slice(0, 40)}" is not true or false`);
      const beginDate = date('beginDate');
      const endDate = date('endDate');
      if (ok && beginDate && endDate && endDate < beginDate) fail('BAD_DATE', `endDate ${endDate} is before beginDate ${beginDate}`);
      row = {
        ...base, classId: required('classSourcedId'), school: required('schoolSourcedId'), user: required('userSourcedId'),
        role: isRole ? (mapped as CourseRole) : null, skip: isRole ? null : mapped ?? null, beginDate, endDate,
      };
      break;
    }
  }
  return ok ? row : null;
}

/** What manifest.csv says: the version check and each file's mode. */
export interface Manifest {
  modes: Record<DataFile, FileMode>;
}

/** Reads manifest.csv's properties; reports a wrong version or a bad mode. */
export function readManifest(props: Map<string, { value: string; line: number }>, report: (e: RowError) => void): Manifest | null {
  let ok = true;
  const fail = (code: RosterErrorCode, line: number | null, message: string) => {
    ok = false;
    report({ file: 'manifest.csv', line, sourcedId: null, code, message });
  };
  const version = props.get('manifest.version');
  if (!version) fail('BAD_MANIFEST', null, 'manifest.version is missing');
  else if (version.value !== '1.0' && version.value !== '1') {
    fail('MANIFEST_VERSION', version.line, `manifest.version is "${version.value.slice(0, 20)}"; Custos reads manifest version 1.0`);
  }
  const oneRoster = props.get('oneroster.version');
  if (!oneRoster) fail('BAD_MANIFEST', null, 'oneroster.version is missing');
  else if (oneRoster.value !== '1.1') {
    fail('MANIFEST_VERSION', oneRoster.line, `oneroster.version is "${oneRoster.value.slice(0, 20)}"; Custos reads OneRoster 1.1`);
  }
  const modes = {} as Record<DataFile, FileMode>;
  for (const file of DATA_FILES) {
    const entry = props.get(`file.${file}`);
    const mode = entry?.value ?? 'absent';
    if (mode !== 'bulk' && mode !== 'delta' && mode !== 'absent') {
      fail('BAD_MANIFEST', entry?.line ?? null, `file.${file} is "${mode.slice(0, 20)}", not bulk, delta or absent`);
    }
    modes[file] = mode as FileMode;
  }
  return ok ? { modes } : null;
}
