/**
 * The OneRoster import: files are read row by row into transaction-local staging tables; references,
 * collisions and the differences from what Custos holds are worked out there in SQL; then — unless it
 * is a dry run, or a row has errors and the caller did not opt into importing the valid rows — the
 * changes are applied with a handful of set-based statements. Everything happens in one transaction
 * (a savepoint inside the caller's): a refused or failed import writes nothing.
 *
 * Matching: a SIS record already imported is found by (kind, sourcedId) in sis_record. A person or a
 * course that Custos holds but no import has linked yet is adopted by e-mail or by course code. People
 * whose data is restricted or erased at their request are never changed by an import (skipped, with the
 * reason), so an erasure is not undone by the next roster.
 *
 * Re-importing the same files changes nothing: unchanged records, and their sis_record rows, are left
 * as they are, and no access event is written for them.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { execBound, pgTextArray } from '../../db/bound';
import { isUuid } from '../../shared/errors';
import type { DataCategory } from '../../privacy/categories';
import {
  DATA_FILES, HEADERS, IGNORED_FILES, KIND_OF, parseRow, readManifest, type DataFile, type ParsedRow, type RecordKind, type RowError,
} from './oneroster';
import { DEFAULT_LIMITS, readCsv, type ReadLimits, type RosterSource } from './source';

export interface EntityDiff {
  created: number;
  updated: number;
  /** Deactivated (people), archived (courses) or removed (enrollments). */
  deactivated: number;
  unchanged: number;
  /** Rows not imported on purpose (a role Custos does not hold, a person protected by a request). */
  skipped: number;
}

export type DiffEntity = 'orgs' | 'users' | 'courses' | 'classes' | 'enrollments';

export interface SkippedRow { file: string; line: number; sourcedId: string; reason: string }

export interface RosterImportResult {
  /** The import's id once applied; null for a dry run or a refused import. */
  importId: string | null;
  applied: boolean;
  dryRun: boolean;
  source: string;
  /** Data rows read per file. */
  rows: Record<string, number>;
  /** What the import changes (or, in a dry run or a refused import, would change for its valid rows). */
  diff: Record<DiffEntity, EntityDiff>;
  errors: RowError[];
  /** Errors found (the list holds at most MAX_LISTED). */
  errorCount: number;
  skipped: SkippedRow[];
  skippedCount: number;
  ignoredFiles: { name: string; reason: string }[];
}

export interface RosterImportOptions {
  dryRun: boolean;
  /** Import the valid rows even when others have errors (the invalid ones, and rows that need them, are left out). */
  importValidRows: boolean;
  /** Who imports (recorded with the import): a credential id or "cli". */
  actor: string;
  limits?: ReadLimits;
  now?: Date;
}

/** What the import changed about each person (for the access log): categories by user id. */
export type PersonalWrites = Map<string, Set<DataCategory>>;

export const MAX_LISTED = 1_000;
const STAGE_BATCH = 2_000;
/** Codes that concern a whole file: nothing can be imported, whatever the caller opted into. */
const FILE_LEVEL = new Set(['MISSING_FILE', 'MISSING_COLUMN', 'UNEXPECTED_FILE', 'MANIFEST_VERSION', 'BAD_MANIFEST', 'FILE_TOO_LARGE', 'MALFORMED_CSV']);
const PROTECTED_REASON = 'the person\'s data is restricted or erased at their request; the import does not change it';

const emptyDiff = (): EntityDiff => ({ created: 0, updated: 0, deactivated: 0, unchanged: 0, skipped: 0 });
const clean = (s: string) => s.trim().replace(/\s+/g, ' ');

class Rollback extends Error {}

const STAGING = `
  create temp table stage_org (sourced_id text primary key, status text, line int, name text, type text, parent text,
    ok bool not null default true) on commit drop;
  create temp table stage_course (sourced_id text primary key, status text, line int, title text, course_code text, org text,
    ok bool not null default true) on commit drop;
  create temp table stage_class (sourced_id text primary key, status text, line int, title text, class_code text, course text,
    school text, ok bool not null default true, code text, target_id uuid, action text) on commit drop;
  create temp table stage_user (sourced_id text primary key, status text, line int, enabled bool, orgs text[], role text, skip text,
    given_name text, family_name text, email text, student_number text, ok bool not null default true, target_id uuid, action text,
    categories text[]) on commit drop;
  create temp table stage_enrollment (sourced_id text primary key, status text, line int, class_id text, school text, user_id text,
    role text, skip text, begin_date text, end_date text, ok bool not null default true, course_id uuid, app_user_id uuid,
    target_id uuid) on commit drop;
`;

function stageRow(file: DataFile, r: ParsedRow): Record<string, unknown> {
  const base = { sourced_id: r.sourcedId, status: r.status, line: r.line };
  switch (file) {
    case 'orgs': { const o = r as import('./oneroster').OrgRow; return { ...base, name: o.name, type: o.type, parent: o.parent }; }
    case 'courses': { const c = r as import('./oneroster').CourseRow; return { ...base, title: c.title, course_code: c.courseCode, org: c.org }; }
    case 'classes': {
      const c = r as import('./oneroster').ClassRow;
      return { ...base, title: clean(c.title).slice(0, 200), class_code: c.classCode, course: c.course, school: c.school };
    }
    case 'users': {
      const u = r as import('./oneroster').UserRow;
      return {
        ...base, enabled: u.enabled, orgs: u.orgs, role: u.role, skip: u.skip, given_name: clean(u.givenName), family_name: clean(u.familyName),
        email: u.email, student_number: u.studentNumber,
      };
    }
    case 'enrollments': {
      const e = r as import('./oneroster').EnrollmentRow;
      return {
        ...base, class_id: e.classId, school: e.school, user_id: e.user, role: e.role, skip: e.skip, begin_date: e.beginDate, end_date: e.endDate,
      };
    }
  }
}

const STAGE_TABLE: Record<DataFile, string> = {
  orgs: 'stage_org', courses: 'stage_course', classes: 'stage_class', users: 'stage_user', enrollments: 'stage_enrollment',
};

/**
 * Imports (or, with `dryRun`, plans) a OneRoster 1.1 set into the tenant. `em` must be bound to the
 * tenant with a privileged viewer (people under restriction must be visible to be left alone).
 * `record` is called, inside the transaction, with what changed about whom, before it commits.
 */
export async function importOneRoster(em: EntityManager, tenantId: string, source: RosterSource, opts: RosterImportOptions,
  record: (writes: PersonalWrites, importId: string) => Promise<void>): Promise<RosterImportResult> {
  const now = opts.now ?? new Date();
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const result: RosterImportResult = {
    importId: null, applied: false, dryRun: opts.dryRun, source: source.label, rows: {},
    diff: { orgs: emptyDiff(), users: emptyDiff(), courses: emptyDiff(), classes: emptyDiff(), enrollments: emptyDiff() },
    errors: [], errorCount: 0, skipped: [], skippedCount: 0, ignoredFiles: [],
  };
  const rowsWithErrors = new Set<string>();
  const report = (e: RowError) => {
    result.errorCount++;
    if (e.line !== null) rowsWithErrors.add(`${e.file}:${e.line}`);
    if (result.errors.length < MAX_LISTED) result.errors.push(e);
  };
  const fatal = () => result.errors.some((e) => FILE_LEVEL.has(e.code));

  // The files: a manifest, and each data file it names (and no other).
  const names = new Set(source.names());
  if (!names.has('manifest.csv')) {
    report({ file: 'manifest.csv', line: null, sourcedId: null, code: 'MISSING_FILE', message: 'manifest.csv is missing' });
    return result;
  }
  const props = new Map<string, { value: string; line: number }>();
  for await (const row of readCsv(await source.open('manifest.csv'), 'manifest.csv', HEADERS.manifest, limits, report)) {
    props.set(row.cell('propertyName'), { value: row.cell('value'), line: row.line });
  }
  const manifest = fatal() ? null : readManifest(props, report);
  if (!manifest) return result;
  for (const file of DATA_FILES) {
    const present = names.has(`${file}.csv`);
    if (manifest.modes[file] !== 'absent' && !present) {
      report({ file: `${file}.csv`, line: null, sourcedId: null, code: 'MISSING_FILE',
        message: `${file}.csv is missing; the manifest says file.${file} is ${manifest.modes[file]}` });
    } else if (manifest.modes[file] === 'absent' && present) {
      report({ file: `${file}.csv`, line: null, sourcedId: null, code: 'UNEXPECTED_FILE',
        message: `${file}.csv is present but the manifest says file.${file} is absent` });
    }
  }
  const read = new Set<string>(['manifest.csv', ...DATA_FILES.map((f) => `${f}.csv`)]);
  for (const name of [...names].sort()) {
    if (read.has(name)) continue;
    result.ignoredFiles.push({ name, reason: IGNORED_FILES[name] ?? 'not a OneRoster 1.1 file Custos reads' });
  }
  if (fatal()) return result;

  try {
    await em.transactional(async (tem) => {
      for (const statement of STAGING.split(';').map((x) => x.trim()).filter(Boolean)) await execBound(tem, statement, []);
      for (const file of DATA_FILES) {
        if (manifest.modes[file] === 'absent') continue;
        await stageFile(tem, file, source, limits, report, result);
        if (fatal()) throw new Rollback();
      }
      // Temporary tables have no statistics until analysed; without them the planner guesses a few rows and joins by loops.
      await execBound(tem, 'analyze stage_org, stage_course, stage_class, stage_user, stage_enrollment', []);
      await crossChecks(tem, tenantId, manifest.modes, report);
      await plan(tem, tenantId, manifest.modes, result);
      if (opts.dryRun || (result.errorCount > 0 && !opts.importValidRows)) throw new Rollback();
      const importId = randomUUID();
      await execBound(tem,
        `insert into sis_import (id, tenant_id, source, actor, started_at, finished_at, counts, rows_with_errors)
         values (?, ?, ?, ?, ?, ?, ?::jsonb, ?)`,
        [importId, tenantId, source.label.slice(0, 500) || 'import', opts.actor.slice(0, 200), now.toISOString(), new Date().toISOString(),
          JSON.stringify({ rows: result.rows, diff: result.diff }), rowsWithErrors.size]);
      const writes = await apply(tem, tenantId, importId, manifest.modes, now);
      await record(writes, importId);
      result.importId = importId;
      result.applied = true;
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  } finally {
    await source.close();
  }
  return result;
}

/** Reads one data file into its staging table, reporting row errors and duplicate sourcedIds. */
async function stageFile(em: EntityManager, file: DataFile, source: RosterSource, limits: ReadLimits, report: (e: RowError) => void,
  result: RosterImportResult): Promise<void> {
  const name = `${file}.csv`;
  const firstLine = new Map<string, number>();
  const duplicated = new Set<string>();
  let batch: Record<string, unknown>[] = [];
  let rows = 0;
  const flush = async () => {
    if (!batch.length) return;
    const table = STAGE_TABLE[file];
    const columns = Object.keys(batch[0]).join(', ');
    await execBound(em, `insert into ${table} (${columns}) select ${columns} from json_populate_recordset(null::${table}, ?::json)`,
      [JSON.stringify(batch)]);
    batch = [];
  };
  for await (const row of readCsv(await source.open(name), name, HEADERS[file], limits, report)) {
    rows++;
    const parsed = parseRow(file, row.line, row.cell, report);
    const id = row.cell('sourcedId');
    if (id) {
      const first = firstLine.get(id);
      if (first !== undefined) {
        duplicated.add(id);
        report({ file: name, line: row.line, sourcedId: id, code: 'DUPLICATE_ID', message: `sourcedId ${id} is also on line ${first}` });
        continue;
      }
      firstLine.set(id, row.line);
    }
    if (!parsed) continue;
    batch.push(stageRow(file, parsed));
    if (batch.length >= STAGE_BATCH) await flush();
  }
  await flush();
  result.rows[name] = rows;
  if (duplicated.size) {
    // Which of two rows is right cannot be told: neither is imported.
    const ids = [...duplicated];
    await execBound(em, `delete from ${STAGE_TABLE[file]} where sourced_id = any(?::text[])`, [pgTextArray(ids)]);
    for (const id of ids) {
      report({ file: name, line: firstLine.get(id)!, sourcedId: id, code: 'DUPLICATE_ID', message: `sourcedId ${id} appears more than once` });
    }
  }
}

/**
 * References between files and collisions with what Custos holds, in dependency order: a row that
 * fails is marked (ok = false) before the rows that refer to it are checked. A record "exists" when
 * it is a valid row of this import or, unless this import sends its file in bulk, an earlier import's.
 */
async function crossChecks(em: EntityManager, tenantId: string, modes: Record<DataFile, string>, report: (e: RowError) => void) {
  // The tenant's id is written into the statements below (they are many and share it): it must be a uuid.
  if (!isUuid(tenantId)) throw new Error('tenant id is not a uuid');
  const known = (kind: RecordKind, file: DataFile, stage: string, column: string) => `(
      exists (select 1 from ${stage} k where k.sourced_id = ${column} and k.ok)
      or (${modes[file] !== 'bulk'} and exists (select 1 from sis_record r where r.tenant_id = '${tenantId}' and r.kind = '${kind}'
                                                 and r.sourced_id = ${column})))`;
  const fail = async (sql: string, file: string, code: RowError['code'], message: (r: Record<string, string>) => string) => {
    const rows = await execBound<Record<string, string> & { line: number; sourced_id: string }>(em, sql, []);
    for (const r of rows) report({ file, line: r.line, sourcedId: r.sourced_id, code, message: message(r) });
  };
  const dangling = (stage: string, file: string, column: string, target: [RecordKind, DataFile, string], what: string, extra = '') =>
    fail(`update ${stage} s set ok = false where s.ok and ${column} is not null ${extra}
            and not ${known(target[0], target[1], target[2], column)} returning s.line, s.sourced_id, ${column} as ref`,
    file, 'DANGLING_REFERENCE', (r) => `${what} ${r.ref} is not in ${target[1]}.csv${modes[target[1]] === 'bulk' ? '' : ' or an earlier import'}`);

  await dangling('stage_org', 'orgs.csv', 's.parent', ['org', 'orgs', 'stage_org'], 'parentSourcedId');
  await dangling('stage_course', 'courses.csv', 's.org', ['org', 'orgs', 'stage_org'], 'orgSourcedId');
  await dangling('stage_class', 'classes.csv', 's.course', ['course', 'courses', 'stage_course'], 'courseSourcedId');
  await dangling('stage_class', 'classes.csv', 's.school', ['org', 'orgs', 'stage_org'], 'schoolSourcedId');
  await fail(`update stage_user s set ok = false from (select s2.sourced_id, o from stage_user s2 cross join lateral unnest(s2.orgs) o
                where s2.ok and not ${known('org', 'orgs', 'stage_org', 'o')}) bad
              where s.sourced_id = bad.sourced_id and s.ok returning s.line, s.sourced_id, bad.o as ref`,
  'users.csv', 'DANGLING_REFERENCE', (r) => `orgSourcedIds ${r.ref} is not in orgs.csv${modes.orgs === 'bulk' ? '' : ' or an earlier import'}`);

  // Course codes: one class per code, and not a course an earlier import linked to another class.
  await execBound(em, `update stage_class set code = left(coalesce(class_code, sourced_id), 64) where ok`, []);
  await fail(`update stage_class s set ok = false from (select sourced_id, code, first_value(line) over (partition by code order by line) as first,
                row_number() over (partition by code order by line) as n from stage_class where ok) d
              where s.sourced_id = d.sourced_id and d.n > 1 returning s.line, s.sourced_id, s.code, d.first::text as first`,
  'classes.csv', 'CONFLICT', (r) => `classCode ${r.code} is also the code of the class on line ${r.first}`);
  await fail(`update stage_class s set ok = false from course c, sis_record r
               where s.ok and c.tenant_id = '${tenantId}' and c.code = s.code and r.tenant_id = c.tenant_id and r.kind = 'class'
                 and r.target_id = c.id and r.sourced_id <> s.sourced_id
              returning s.line, s.sourced_id, s.code, r.sourced_id as other`,
  'classes.csv', 'CONFLICT', (r) => `classCode ${r.code} belongs to the course imported from class ${r.other}`);

  // People: one per e-mail and student number, and not one an earlier import linked to another sourcedId.
  for (const [column, label] of [['email', 'email'], ['student_number', 'identifier']] as const) {
    await fail(`update stage_user s set ok = false from (select sourced_id, first_value(line) over (partition by ${column} order by line) as first,
                  row_number() over (partition by ${column} order by line) as n from stage_user
                 where ok and role is not null and ${column} is not null) d
                where s.sourced_id = d.sourced_id and d.n > 1 returning s.line, s.sourced_id, s.${column} as value, d.first::text as first`,
    'users.csv', 'CONFLICT', (r) => `${label} ${r.value} is also on line ${r.first}`);
    await fail(`update stage_user s set ok = false from app_user u, sis_record r
                 where s.ok and s.role is not null and u.tenant_id = '${tenantId}' and u.${column} = s.${column}
                   and r.tenant_id = u.tenant_id and r.kind = 'user' and r.target_id = u.id and r.sourced_id <> s.sourced_id
                returning s.line, s.sourced_id, s.${column} as value, r.sourced_id as other`,
    'users.csv', 'CONFLICT', (r) => `${label} ${r.value} belongs to the member imported as ${r.other}`);
  }

  await dangling('stage_enrollment', 'enrollments.csv', 's.class_id', ['class', 'classes', 'stage_class'], 'classSourcedId');
  await dangling('stage_enrollment', 'enrollments.csv', 's.user_id', ['user', 'users', 'stage_user'], 'userSourcedId');
  await dangling('stage_enrollment', 'enrollments.csv', 's.school', ['org', 'orgs', 'stage_org'], 'schoolSourcedId');
  await fail(`update stage_enrollment s set ok = false from (select sourced_id, first_value(line) over w as first, first_value(role) over w as first_role,
                row_number() over w as n from stage_enrollment where ok and status = 'active' and role is not null
                window w as (partition by class_id, user_id order by line)) d
              where s.sourced_id = d.sourced_id and d.n > 1 and s.role <> d.first_role
              returning s.line, s.sourced_id, s.role, d.first_role, d.first::text as first`,
  'enrollments.csv', 'CONFLICT', (r) => `role ${r.role} contradicts role ${r.first_role} for the same person and class on line ${r.first}`);
}

/** Works out each valid row's Custos record and what would change, filling `result.diff` and the skipped list. */
async function plan(em: EntityManager, tenantId: string, modes: Record<DataFile, string>, result: RosterImportResult): Promise<void> {
  const t = tenantId;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows of ad-hoc statements, read by column name
  const exec = <T = Record<string, any>>(sql: string, params: unknown[] = []) => execBound<T>(em, sql, params);

  // Orgs and catalogue courses: SIS records only.
  for (const [entity, kind, stage] of [['orgs', 'org', 'stage_org'], ['courses', 'course', 'stage_course']] as const) {
    const [c] = await exec(
      `select count(*) filter (where r.sourced_id is null and s.status = 'active')::int as created,
              count(*) filter (where r.sourced_id is not null and r.status = 'active' and s.status = 'tobedeleted')::int as deactivated,
              count(*) filter (where r.sourced_id is not null and r.status = 'tobedeleted' and s.status = 'active')::int as updated
         from ${stage} s left join sis_record r on r.tenant_id = ? and r.kind = ? and r.sourced_id = s.sourced_id where s.ok`, [t, kind]);
    const [n] = await exec(`select count(*)::int as n from ${stage} where ok`);
    const [absent] = modes[`${entity}` as DataFile] === 'bulk' ? await exec(
      `select count(*)::int as n from sis_record r where r.tenant_id = ? and r.kind = ? and r.status = 'active'
          and not exists (select 1 from ${stage} s where s.sourced_id = r.sourced_id)`, [t, kind]) : [{ n: 0 }];
    const d = result.diff[entity];
    Object.assign(d, { created: c.created, updated: c.updated, deactivated: c.deactivated + Number(absent.n) });
    d.unchanged = Number(n.n) - c.created - c.updated - c.deactivated;
  }

  // Classes → courses.
  await exec(`update stage_class s set target_id = r.target_id from sis_record r
               where s.ok and r.tenant_id = ? and r.kind = 'class' and r.sourced_id = s.sourced_id
                 and exists (select 1 from course c where c.tenant_id = r.tenant_id and c.id = r.target_id)`, [t]);
  await exec(`update stage_class s set target_id = c.id from course c
               where s.ok and s.target_id is null and c.tenant_id = ? and c.code = s.code
                 and not exists (select 1 from sis_record r where r.tenant_id = c.tenant_id and r.kind = 'class' and r.target_id = c.id)`, [t]);
  await exec(`update stage_class s set action = case
                when c.id is null and s.status = 'tobedeleted' then 'unchanged'
                when c.id is null then 'create'
                when s.status = 'tobedeleted' and c.status = 'ACTIVE' then 'deactivate'
                when s.status = 'tobedeleted' then 'unchanged'
                when c.code is distinct from s.code or c.title is distinct from s.title or c.status <> 'ACTIVE'
                  or c.description is distinct from d.description then 'update'
                else 'unchanged' end
              from stage_class s2 left join course c on c.tenant_id = ? and c.id = s2.target_id
                left join lateral (select ${descriptionSql('s2', t)} as description) d on true
              where s.sourced_id = s2.sourced_id and s.ok`, [t]);
  await exec(`update stage_class set target_id = gen_random_uuid() where action = 'create'`);

  // Users → members.
  await exec(`update stage_user s set target_id = r.target_id from sis_record r
               where s.ok and r.tenant_id = ? and r.kind = 'user' and r.sourced_id = s.sourced_id
                 and exists (select 1 from app_user u where u.tenant_id = r.tenant_id and u.id = r.target_id)`, [t]);
  await exec(`update stage_user s set target_id = u.id from app_user u
               where s.ok and s.target_id is null and s.role is not null and s.email is not null and u.tenant_id = ? and u.email = s.email
                 and not exists (select 1 from sis_record r where r.tenant_id = u.tenant_id and r.kind = 'user' and r.target_id = u.id)`, [t]);
  await exec(`update stage_user s set skip = ? from app_user u
               where s.ok and s.skip is null and u.tenant_id = ? and u.id = s.target_id
                 and (u.erased_at is not null or exists (select 1 from processing_restriction p where p.tenant_id = u.tenant_id and p.user_id = u.id))`,
  [PROTECTED_REASON, t]);
  await exec(`update stage_user s set action = case
                when s.skip is not null then 'skip'
                when u.id is null and s.status = 'tobedeleted' then 'unchanged'
                when u.id is null then 'create'
                when (s.status = 'tobedeleted' or not s.enabled) and u.status = 'ACTIVE' then 'deactivate'
                when s.status = 'tobedeleted' then 'unchanged'
                when u.email is distinct from s.email or u.given_name is distinct from s.given_name or u.family_name is distinct from s.family_name
                  or u.student_number is distinct from s.student_number or u.role::text <> s.role or u.source <> 'SIS_IMPORT'
                  or (s.enabled and u.status <> 'ACTIVE') then 'update'
                else 'unchanged' end,
              categories = case when u.id is null then array['user.account', 'user.name', 'user.contact.email']
                                  || case when s.student_number is not null then array['user.unique_id.student_number'] else array[]::text[] end
                else array['user.account']
                  || case when u.given_name is distinct from s.given_name or u.family_name is distinct from s.family_name
                          then array['user.name'] else array[]::text[] end
                  || case when u.email is distinct from s.email then array['user.contact.email'] else array[]::text[] end
                  || case when u.student_number is distinct from s.student_number then array['user.unique_id.student_number'] else array[]::text[] end
                end
              from stage_user s2 left join app_user u on u.tenant_id = ? and u.id = s2.target_id
              where s.sourced_id = s2.sourced_id and s.ok`, [t]);
  await exec(`update stage_user set target_id = gen_random_uuid() where action = 'create'`);

  // Enrollments → (course, member) pairs.
  await exec(`update stage_enrollment e set
                course_id = coalesce((select c.target_id from stage_class c where c.sourced_id = e.class_id and c.ok),
                                     (select r.target_id from sis_record r where r.tenant_id = ? and r.kind = 'class' and r.sourced_id = e.class_id)),
                app_user_id = coalesce((select u.target_id from stage_user u where u.sourced_id = e.user_id and u.ok),
                                       (select r.target_id from sis_record r where r.tenant_id = ? and r.kind = 'user' and r.sourced_id = e.user_id))
              where e.ok`, [t, t]);
  await exec(`update stage_enrollment e set skip = 'its person is not imported: ' || u.skip
               from stage_user u where e.ok and e.skip is null and u.sourced_id = e.user_id and u.ok and u.skip is not null`);
  await exec('create index on stage_enrollment (course_id, app_user_id)');
  await exec(`update stage_enrollment e set skip = ? from app_user u
               where e.ok and e.skip is null and u.tenant_id = ? and u.id = e.app_user_id
                 and (u.erased_at is not null or exists (select 1 from processing_restriction p where p.tenant_id = u.tenant_id and p.user_id = u.id))`,
  [PROTECTED_REASON, t]);
  await exec(`create temp table enrollment_plan on commit drop as
              with wanted as (
                select course_id, app_user_id, (array_agg(role order by line) filter (where status = 'active'))[1] as role
                  from stage_enrollment where ok and skip is null and course_id is not null and app_user_id is not null
                 group by course_id, app_user_id),
              absent as materialized (
                select r.target_id from sis_record r
                 where r.tenant_id = '${t}' and r.kind = 'enrollment' and ${modes.enrollments === 'bulk'}
                   and not exists (select 1 from stage_enrollment s where s.sourced_id = r.sourced_id)),
              gone as (
                select e.course_id, e.user_id as app_user_id, null::text as role
                  from absent a join enrollment e on e.tenant_id = '${t}' and e.id = a.target_id
                 where not exists (select 1 from stage_enrollment s where s.skip is not null and s.course_id = e.course_id
                                     and s.app_user_id = e.user_id)
                 group by 1, 2),
              pairs as (
                select * from wanted
                union all
                select * from gone g where not exists (select 1 from wanted w where w.course_id = g.course_id and w.app_user_id = g.app_user_id))
              select p.course_id, p.app_user_id, p.role, x.id as existing_id, x.role::text as existing_role,
                     case when p.role is null and x.id is null then 'unchanged'
                          when p.role is null then 'deactivate'
                          when x.id is null then 'create'
                          when x.role::text <> p.role then 'update'
                          else 'unchanged' end as action,
                     coalesce(x.id, gen_random_uuid()) as target_id
                from pairs p left join enrollment x on x.tenant_id = '${t}' and x.course_id = p.course_id and x.user_id = p.app_user_id`);
  await exec(`update stage_enrollment e set target_id = p.target_id from enrollment_plan p
               where e.ok and e.course_id = p.course_id and e.app_user_id = p.app_user_id`);

  // The diff.
  for (const [entity, stage, absentKind] of [['classes', 'stage_class', 'class'], ['users', 'stage_user', 'user']] as const) {
    const [c] = await exec(
      `select count(*) filter (where action = 'create')::int as created, count(*) filter (where action = 'update')::int as updated,
              count(*) filter (where action = 'deactivate')::int as deactivated, count(*) filter (where action = 'unchanged')::int as unchanged,
              count(*) filter (where action = 'skip')::int as skipped
         from ${stage} where ok`);
    const file: DataFile = entity;
    const [absent] = modes[file] === 'bulk' ? await exec(absentSql(absentKind, stage, t)) : [{ n: 0 }];
    Object.assign(result.diff[entity], c, { deactivated: c.deactivated + Number(absent.n) });
  }
  const [e] = await exec(
    `select count(*) filter (where action = 'create')::int as created, count(*) filter (where action = 'update')::int as updated,
            count(*) filter (where action = 'deactivate')::int as deactivated, count(*) filter (where action = 'unchanged')::int as unchanged
       from enrollment_plan`);
  const [es] = await exec(`select count(*)::int as n from stage_enrollment where ok and skip is not null`);
  Object.assign(result.diff.enrollments, e, { skipped: es.n });

  const skipped = await exec<{ file: string; line: number; sourced_id: string; skip: string }>(
    `select 'users.csv' as file, line, sourced_id, skip from stage_user where ok and skip is not null
      union all select 'enrollments.csv', line, sourced_id, skip from stage_enrollment where ok and skip is not null
      order by 1, 2 limit ${MAX_LISTED}`);
  const [sc] = await exec(`select (select count(*) from stage_user where ok and skip is not null)
                                 + (select count(*) from stage_enrollment where ok and skip is not null) as n`);
  result.skipped = skipped.map((s) => ({ file: s.file, line: s.line, sourcedId: s.sourced_id, reason: s.skip }));
  result.skippedCount = Number(sc.n);
}

/** A class's Custos description: its catalogue course's title and code, from this import or an earlier one. */
function descriptionSql(alias: string, tenantId: string): string {
  return `coalesce((select nullif(concat_ws(' ', k.title, '(' || k.course_code || ')'), '') from stage_course k where k.sourced_id = ${alias}.course),
                   (select c.description from course c where c.tenant_id = '${tenantId}' and c.id = ${alias}.target_id))`;
}

/** SIS records of a kind sent in bulk before and missing now, whose Custos record is still active. */
function absentSql(kind: 'class' | 'user', stage: string, tenantId: string): string {
  const [table, active] = kind === 'class' ? ['course', "x.status = 'ACTIVE'"] : ['app_user', "x.status = 'ACTIVE' and x.erased_at is null"];
  return `select count(*)::int as n from sis_record r join ${table} x on x.tenant_id = r.tenant_id and x.id = r.target_id
           where r.tenant_id = '${tenantId}' and r.kind = '${kind}' and ${active}
             and not exists (select 1 from ${stage} s where s.sourced_id = r.sourced_id)
             ${kind === 'user' ? 'and not exists (select 1 from processing_restriction p where p.tenant_id = x.tenant_id and p.user_id = x.id)' : ''}`;
}

/** Applies the plan; returns what changed about whom. */
async function apply(em: EntityManager, tenantId: string, importId: string, modes: Record<DataFile, string>, now: Date): Promise<PersonalWrites> {
  const t = tenantId;
  const at = now.toISOString();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows of ad-hoc statements, read by column name
  const exec = <T = Record<string, any>>(sql: string, params: unknown[] = []) => execBound<T>(em, sql, params);
  const writes: PersonalWrites = new Map();
  const wrote = (userId: string, categories: string[]) => {
    let set = writes.get(userId);
    if (!set) writes.set(userId, (set = new Set()));
    for (const c of categories) set.add(c as DataCategory);
  };

  // Courses.
  await exec(`insert into course (id, tenant_id, code, title, description, status, created_at, updated_at)
              select s.target_id, ?, s.code, s.title, ${descriptionSql('s', t)}, 'ACTIVE', ?, ? from stage_class s where s.action = 'create'`,
  [t, at, at]);
  await exec(`update course c set code = s.code, title = s.title, description = ${descriptionSql('s', t)}, status = 'ACTIVE', archived_at = null,
                     updated_at = ?
                from stage_class s where s.action = 'update' and c.tenant_id = ? and c.id = s.target_id`, [at, t]);
  const archive = `status = 'ARCHIVED', archived_at = coalesce(archived_at, ?::timestamptz), updated_at = ?`;
  await exec(`update course c set ${archive} from stage_class s where s.action = 'deactivate' and c.tenant_id = ? and c.id = s.target_id`,
    [at, at, t]);
  if (modes.classes === 'bulk') {
    await exec(`update course c set ${archive} from sis_record r
                 where r.tenant_id = ? and r.kind = 'class' and c.tenant_id = r.tenant_id and c.id = r.target_id and c.status = 'ACTIVE'
                   and not exists (select 1 from stage_class s where s.sourced_id = r.sourced_id)`, [at, at, t]);
  }

  // Members.
  await exec(
    `insert into app_user (id, tenant_id, email, given_name, family_name, display_name, student_number, role, status, source, created_at,
                           updated_at, deactivated_at)
     select s.target_id, ?, s.email, s.given_name, s.family_name, left(s.given_name || ' ' || s.family_name, 100), s.student_number,
            s.role::user_role, case when s.enabled then 'ACTIVE' else 'DEACTIVATED' end::user_status, 'SIS_IMPORT', ?, ?,
            case when s.enabled then null else ?::timestamptz end
       from stage_user s where s.action = 'create'`, [t, at, at, at]);
  for (const r of await exec<{ id: string; categories: string[] }>(
    `select target_id as id, categories from stage_user where action = 'create'`)) wrote(r.id, r.categories);
  for (const r of await exec<{ id: string; categories: string[] }>(
    `update app_user u set email = s.email, given_name = s.given_name, family_name = s.family_name, student_number = s.student_number,
            role = s.role::user_role, source = 'SIS_IMPORT', status = case when s.enabled then 'ACTIVE' else u.status end::user_status,
            deactivated_at = case when s.enabled then null else u.deactivated_at end, updated_at = ?
       from stage_user s where s.action = 'update' and u.tenant_id = ? and u.id = s.target_id
     returning u.id, s.categories`, [at, t])) wrote(r.id, r.categories);
  const deactivated = await exec<{ id: string }>(
    `update app_user u set status = 'DEACTIVATED', deactivated_at = coalesce(u.deactivated_at, ?::timestamptz), updated_at = ?
      where u.tenant_id = ? and u.status = 'ACTIVE' and (
        u.id in (select target_id from stage_user where action = 'deactivate')
        or (${modes.users === 'bulk'} and u.id in (
              select r.target_id from sis_record r where r.tenant_id = ? and r.kind = 'user'
                 and not exists (select 1 from stage_user s where s.sourced_id = r.sourced_id))
            and u.erased_at is null
            and not exists (select 1 from processing_restriction p where p.tenant_id = u.tenant_id and p.user_id = u.id)))
     returning u.id`, [at, at, t, t]);
  if (deactivated.length) {
    // As when an administrator deactivates someone: their credentials stop working at once.
    await exec(`update api_token set revoked_at = ? where tenant_id = ? and revoked_at is null and user_id = any(?::uuid[])`,
      [at, t, `{${deactivated.map((d) => d.id).join(',')}}`]);
    for (const d of deactivated) wrote(d.id, ['user.account', 'user.credential']);
  }

  // Enrollments.
  for (const r of await exec<{ user_id: string }>(
    `insert into enrollment (id, tenant_id, course_id, user_id, role, created_at)
     select target_id, ?, course_id, app_user_id, role::course_role, ? from enrollment_plan where action = 'create' returning user_id`, [t, at])) {
    wrote(r.user_id, ['user.education.enrollment']);
  }
  for (const r of await exec<{ user_id: string }>(
    `update enrollment e set role = p.role::course_role from enrollment_plan p
      where p.action = 'update' and e.tenant_id = ? and e.id = p.existing_id returning e.user_id`, [t])) {
    wrote(r.user_id, ['user.education.enrollment']);
  }
  for (const r of await exec<{ user_id: string }>(
    `delete from enrollment e using enrollment_plan p where p.action = 'deactivate' and e.tenant_id = ? and e.id = p.existing_id
     returning e.user_id`, [t])) {
    wrote(r.user_id, ['user.education.enrollment', 'user.education.grade']);
  }

  // Where every record came from: a row per valid SIS record, changed only when something differs.
  const kinds: [DataFile, string, string][] = [
    ['orgs', 'stage_org', 'null::uuid'], ['courses', 'stage_course', 'null::uuid'], ['classes', 'stage_class', 's.target_id'],
    ['users', 'stage_user', 's.target_id'], ['enrollments', 'stage_enrollment', 's.target_id'],
  ];
  for (const [file, stage, target] of kinds) {
    await exec(`insert into sis_record (tenant_id, kind, sourced_id, target_id, status, import_id, file, line, updated_at)
                select ?, ?, s.sourced_id, ${target}, s.status, ?, ?, s.line, ? from ${stage} s where s.ok
                on conflict (tenant_id, kind, sourced_id) do update
                  set target_id = excluded.target_id, status = excluded.status, import_id = excluded.import_id, file = excluded.file,
                      line = excluded.line, updated_at = excluded.updated_at
                  where (sis_record.target_id, sis_record.status, sis_record.file, sis_record.line)
                        is distinct from (excluded.target_id, excluded.status, excluded.file, excluded.line)`,
    [t, KIND_OF[file], importId, `${file}.csv`, at]);
    if (modes[file] === 'bulk') {
      await exec(`update sis_record r set status = 'tobedeleted', import_id = ?, updated_at = ?
                   where r.tenant_id = ? and r.kind = ? and r.status = 'active'
                     and not exists (select 1 from ${stage} s where s.sourced_id = r.sourced_id)`, [importId, at, t, KIND_OF[file]]);
    }
  }
  return writes;
}
