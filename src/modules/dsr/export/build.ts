/**
 * The contents of a right-of-access export (DESIGN §5): access-history.csv (one row per access event
 * about the person sealed under the export's checkpoint), export.json (machine-readable, versioned)
 * and index.html (the same for people, offline, no external assets). Package, manifest and signature:
 * package.ts.
 *
 * Memory: every list that grows with a person's activity (posts, comments, reactions, enrollments,
 * the access history) is read in keyset-paginated batches and rendered batch by batch into the file
 * being streamed; each file reads its lists again rather than keeping them. The history is the first
 * file, and the summary the other two give of it is tallied as it streams (one pass, not two). What
 * grows with the history is what the manifest must prove anyway: the leaves (id, index, hash) and the
 * set of their ids. The small, per-person facts (profile, tokens, requests, holds, counts, distinct
 * devices) are loaded once.
 *
 * What is exported is driven by the classification registry: FIELD_LOCATIONS says where each classified
 * field (Type.field) appears, and export.json's `fields` index lists them; a test fails when a
 * classified field has no place here.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Checkpoint } from '../../../audit/checkpoint';
import { execBound, pgArray } from '../../../db/bound';
import { isUuid } from '../../../shared/errors';
import { csvField, csvText } from '../../../shared/csv';
import { openForSubject } from '../../../audit/subject-crypto';
import { PURPOSES, type Purpose } from '../../../audit/purposes';
import { DATA_CATEGORIES, type DataCategory } from '../../../privacy/categories';
import { LAWFUL_BASIS } from '../../../privacy/processing';
import { ERASURE_POLICY } from '../../../privacy/erasure-policy';
import type { PrivacyRegistry } from '../../../privacy/registry';
import { OPEN_STATUSES, type DataRequestStatus } from '../dsr.entity';
import type { PrivacySettings } from '../privacy-settings';
import { escapeHtml, htmlTable, tableHead, tr } from '../../../shared/html';
import { HISTORY_FILE, type ExportFileInput, type ExportLeafInput } from './package';
import { downloadPathOf } from './export.resolver';

export const EXPORT_FORMAT = 'custos.subject-export.v1';
export const EXPORT_JSON = 'export.json';
export const EXPORT_HTML = 'index.html';

/** An export holds every category of the person's data (a section each, empty where nothing is held). */
export const EXPORT_CATEGORIES = Object.keys(DATA_CATEGORIES).sort() as DataCategory[];

/**
 * Rows per statement, by what a row may weigh: an access event is a few hundred bytes, a post or
 * comment up to 20,000 characters (500 of them stay under ~10 MB), an enrollment or a device row little.
 * Smaller pages die young: a page that lives across several garbage collections while its rows are
 * rendered and compressed is promoted, and the heap grows with it (history pages of 5,000 rows cost
 * ~20 MB more peak RSS in the benchmark than pages of 1,000, for the same wall time).
 */
const BATCH = { history: 1_000, content: 500, small: 1_000 } as const;
/** Distinct IP addresses and user agents listed; more are counted, not listed. */
const MAX_DEVICES = 500;
/** Access events index.html lists one by one (newest first); all of them are in access-history.csv. */
export const HTML_HISTORY_ROWS = 1_000;
/** Strings are yielded in pieces of about this size: fewer, larger chunks through hashing and DEFLATE. */
const FLUSH_CHARS = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Where each classified field appears
// ---------------------------------------------------------------------------------------------

export interface FieldLocation {
  file: typeof EXPORT_JSON | typeof HISTORY_FILE;
  /** export.json: a path (`[]` = every element of a list); access-history.csv: a column. */
  at: string;
}

const json = (at: string): FieldLocation => ({ file: EXPORT_JSON, at });
const csv = (at: string): FieldLocation => ({ file: HISTORY_FILE, at });

/**
 * Every classified field of the API and where the export holds its value for the person. Fields read
 * about "the caller" (Viewer.role, Course.viewerRole …) are the person's own facts seen from their side.
 */
export const FIELD_LOCATIONS: Readonly<Record<string, readonly FieldLocation[]>> = {
  'Viewer.role': [json('profile.role')],
  'Viewer.credentialExpiresAt': [json('credentials[].expiresAt')],
  'User.email': [json('profile.email')],
  'User.givenName': [json('profile.givenName')],
  'User.familyName': [json('profile.familyName')],
  'User.displayName': [json('profile.displayName')],
  'User.studentNumber': [json('profile.studentNumber')],
  'User.avatarUrl': [json('profile.avatarUrl')],
  'User.role': [json('profile.role')],
  'User.status': [json('profile.status')],
  'User.source': [json('profile.source')],
  'User.createdAt': [json('profile.createdAt')],
  'User.updatedAt': [json('profile.updatedAt')],
  'Enrollment.role': [json('enrollments[].role')],
  'Enrollment.finalGrade': [json('enrollments[].finalGrade')],
  'Enrollment.gradedAt': [json('enrollments[].gradedAt')],
  'Enrollment.createdAt': [json('enrollments[].createdAt')],
  'Course.viewerRole': [json('enrollments[].role')],
  'Post.body': [json('posts[].body')],
  'Post.createdAt': [json('posts[].createdAt')],
  'Post.editedAt': [json('posts[].editedAt')],
  'Comment.body': [json('comments[].body')],
  'Comment.createdAt': [json('comments[].createdAt')],
  'Comment.editedAt': [json('comments[].editedAt')],
  'ReactionSummary.viewerHasReacted': [json('reactions[].kind')],
  'ApiToken.kind': [json('credentials[].kind')],
  'ApiToken.scopes': [json('credentials[].scopes')],
  'ApiToken.label': [json('credentials[].label')],
  'ApiToken.prefix': [json('credentials[].prefix')],
  'ApiToken.createdAt': [json('credentials[].createdAt')],
  'ApiToken.expiresAt': [json('credentials[].expiresAt')],
  'ApiToken.revokedAt': [json('credentials[].revokedAt')],
  'ApiToken.lastUsedAt': [json('credentials[].lastUsedAt')],
  'ApiToken.status': [json('credentials[].status')],
  'AccessRecord.occurredAt': [csv('occurred_at'), json('accessHistory.first')],
  'AccessRecord.accessKind': [csv('access_kind'), json('accessHistory.byAccessKind')],
  'AccessRecord.purpose': [csv('purpose'), json('accessHistory.byPurpose')],
  'AccessRecord.actorKind': [csv('accessor_role'), json('accessHistory.byAccessorRole')],
  'AccessRecord.actorRole': [csv('accessor_role'), json('accessHistory.byAccessorRole')],
  'AccessRecord.operation': [csv('operation')],
  'AccessRecord.categories': [csv('categories'), json('accessHistory.byCategory')],
  'AccessRecord.outcome': [csv('outcome')],
  // A breach's view of the same history: which of the person's categories one suspect touched, and when.
  'IncidentAffectedSubject.categories': [csv('categories'), json('accessHistory.byCategory')],
  'IncidentAffectedSubject.eventCount': [json('accessHistory.events')],
  'IncidentAffectedSubject.firstAccessAt': [csv('occurred_at')],
  'IncidentAffectedSubject.lastAccessAt': [csv('occurred_at')],
  'DataSubjectRequest.type': [json('dataRequests[].type')],
  'DataSubjectRequest.status': [json('dataRequests[].status')],
  'DataSubjectRequest.filedOnBehalf': [json('dataRequests[].filedOnBehalf')],
  'DataSubjectRequest.note': [json('dataRequests[].note')],
  'DataSubjectRequest.filedAt': [json('dataRequests[].filedAt')],
  'DataSubjectRequest.dueAt': [json('dataRequests[].dueAt')],
  'DataSubjectRequest.extendedAt': [json('dataRequests[].extendedAt')],
  'DataSubjectRequest.extensionDays': [json('dataRequests[].extensionDays')],
  'DataSubjectRequest.extensionReason': [json('dataRequests[].extensionReason')],
  'DataSubjectRequest.decidedAt': [json('dataRequests[].decidedAt')],
  'DataSubjectRequest.rejectionReason': [json('dataRequests[].rejectionReason')],
  'DataSubjectRequest.startedAt': [json('dataRequests[].startedAt')],
  'DataSubjectRequest.completedAt': [json('dataRequests[].completedAt')],
  'DataSubjectRequest.cancelledAt': [json('dataRequests[].cancelledAt')],
  'DataSubjectRequest.failedAt': [json('dataRequests[].failedAt')],
  'DataSubjectRequest.failure': [json('dataRequests[].failure')],
  'DataSubjectRequest.liftedAt': [json('dataRequests[].liftedAt')],
  'DataSubjectRequest.liftReason': [json('dataRequests[].liftReason')],
  'DataSubjectRequest.purgeAfter': [json('dataRequests[].purgeAfter')],
  'DataSubjectRequest.heldSince': [json('dataRequests[].heldSince')],
  'DataSubjectRequest.changes': [json('dataRequests[].changes')],
  'DataSubjectRequest.history': [json('dataRequests[].history')],
  'DataSubjectRequest.overdue': [json('dataRequests[].overdue')],
  'RectificationChange.before': [json('dataRequests[].changes[].before')],
  'RectificationChange.after': [json('dataRequests[].changes[].after')],
  'DataRequestTransition.status': [json('dataRequests[].history[].status')],
  'DataRequestTransition.at': [json('dataRequests[].history[].at')],
  'DataRequestTransition.by': [json('dataRequests[].history[].by')],
  'DataExport.createdAt': [json('dataRequests[].export.createdAt')],
  'DataExport.expiresAt': [json('dataRequests[].export.expiresAt'), json('linkExpiresAt')],
  'DataExport.bytes': [json('dataRequests[].export.bytes')],
  'DataExport.sha256': [json('dataRequests[].export.sha256')],
  'DataExport.events': [json('dataRequests[].export.events'), json('accessHistory.events')],
  'DataExport.expired': [json('dataRequests[].export.expired')],
  'RecipientNotice.reason': [json('recipients.notices[].reason')],
  'RecipientNotice.categories': [json('recipients.notices[].categories')],
  'RecipientNotice.lastReceivedAt': [json('recipients.notices[].lastReceivedAt')],
  'ErasurePlan.entries': [json('erasure.policy')],
  'ErasurePlan.rows': [json('erasure.records')],
  'ErasurePlan.activeLegalHolds': [json('erasure.activeLegalHolds')],
  'ErasurePlan.graceDays': [json('erasure.graceDays')],
  'ErasureRowCounts.posts': [json('erasure.records.posts')],
  'ErasureRowCounts.comments': [json('erasure.records.comments')],
  'ErasureRowCounts.reactions': [json('erasure.records.reactions')],
  'ErasureRowCounts.enrollments': [json('erasure.records.enrollments')],
  'ErasureRowCounts.grades': [json('erasure.records.grades')],
  'ErasureRowCounts.tokens': [json('erasure.records.tokens')],
  'ErasureRowCounts.requests': [json('erasure.records.requests')],
  'LegalHold.reason': [json('legalHolds[].reason')],
  'LegalHold.placedAt': [json('legalHolds[].placedAt')],
  'LegalHold.releasedAt': [json('legalHolds[].releasedAt')],
  'LegalHold.releaseReason': [json('legalHolds[].releaseReason')],
};

export interface FieldIndexEntry {
  coordinate: string;
  category: DataCategory;
  locations: readonly FieldLocation[];
}

/** The `fields` index: each classified field with a place in the export; `missing`: those without one. */
export function fieldIndex(registry: PrivacyRegistry): { entries: FieldIndexEntry[]; missing: string[] } {
  const entries: FieldIndexEntry[] = [];
  const missing: string[] = [];
  for (const f of registry.personalFields()) {
    const locations = FIELD_LOCATIONS[f.coordinate];
    if (locations) entries.push({ coordinate: f.coordinate, category: f.category, locations });
    else missing.push(f.coordinate);
  }
  entries.sort((a, b) => a.coordinate.localeCompare(b.coordinate));
  return { entries, missing: missing.sort() };
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

export interface ExportSource {
  /** The job's transaction, bound to the tenant with a privileged viewer (restricted rows are the person's too). */
  em: EntityManager;
  tenantId: string;
  subjectId: string;
  /** The person's pseudonym in the access log; null once it is gone (nothing links events to them). */
  pseudonym: string | null;
  requestId: string;
  createdAt: Date;
  expiresAt: Date;
  /** The checkpoint the access history is proven against: only events sealed under it are listed. */
  checkpoint: Checkpoint;
  /** Ids of the events listed: the person's events sealed under the checkpoint (the manifest's leaves). */
  listed: ReadonlySet<string>;
  settings: PrivacySettings;
  registry: PrivacyRegistry;
  /** Rows per statement instead of the defaults (tests make it small to cross page boundaries). */
  batchSize?: number;
}

/** ISO 8601 UTC with milliseconds, formatted by PostgreSQL (timestamptz(3) keeps milliseconds). */
const iso = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

type Keyset = [string, string];

/**
 * Reads a query page by page with a two-column keyset. `sql(after, size)` returns the statement and its
 * parameters for the page after `after` (null: the first), ordered by the keyset and limited to `size`.
 */
async function* pages<T>(em: EntityManager, size: number, sql: (after: Keyset | null, size: number) => [string, unknown[]],
  key: (row: T) => Keyset): AsyncGenerator<T[]> {
  let after: Keyset | null = null;
  for (;;) {
    const [text, params] = sql(after, size);
    const rows = await execBound<T>(em, text, params);
    if (rows.length) yield rows;
    if (rows.length < size) return;
    after = key(rows[rows.length - 1]);
  }
}

const keysetAfter = (after: Keyset | null, a: string, b: string, params: unknown[], descending = false) => {
  if (!after) return '';
  params.push(after[0], after[1]);
  return `and (${a}, ${b}) ${descending ? '<' : '>'} (?::timestamptz, ?::uuid)`;
};

interface CourseRef { id: string; code: string; title: string }

/** Where a record came from when an SIS import wrote it: the import, file, line and sourcedId (several for one enrollment). */
export interface SisSource { importId: string; file: string; line: number; sourcedId: string }

/** The SIS records behind a Custos record, as a JSON array (null when none). */
const sisSources = (kind: 'user' | 'enrollment', target: string) =>
  `(select json_agg(json_build_object('importId', r.import_id, 'file', r.file, 'line', r.line, 'sourcedId', r.sourced_id)
                    order by r.sourced_id)
      from sis_record r where r.tenant_id = ? and r.kind = '${kind}' and r.target_id = ${target}) as sis`;

export interface EnrollmentRow { id: string; course_id: string; code: string; title: string; role: string; final_grade: string | null;
  graded_at: string | null; created_at: string; sis: SisSource[] | null }

function enrollments(s: ExportSource): AsyncGenerator<EnrollmentRow[]> {
  return pages<EnrollmentRow>(s.em, s.batchSize ?? BATCH.small, (after, size) => {
    const params: unknown[] = [s.tenantId, s.tenantId, s.subjectId];
    const keyset = keysetAfter(after, 'e.created_at', 'e.id', params);
    return [`select e.id, c.id as course_id, c.code, c.title, e.role::text, e.final_grade, ${iso('e.graded_at')} as graded_at,
                    ${iso('e.created_at')} as created_at, ${sisSources('enrollment', 'e.id')}
               from enrollment e join course c on c.tenant_id = e.tenant_id and c.id = e.course_id
              where e.tenant_id = ? and e.user_id = ? ${keyset} order by e.created_at, e.id limit ?`, [...params, size]];
  }, (r) => [r.created_at, r.id]);
}

export interface ContentRow {
  id: string; course_id: string; code: string; title: string; post_id: string | null; body: string | null; kind: string | null;
  created_at: string; edited_at: string | null;
}

/** The person's posts, comments or reactions, oldest first, with the course each belongs to. */
function content(s: ExportSource, what: 'post' | 'comment' | 'reaction'): AsyncGenerator<ContentRow[]> {
  const table = {
    post: 'post x', comment: 'comment x join post p on p.id = x.post_id', reaction: 'reaction x join post p on p.id = x.post_id',
  }[what];
  const course = what === 'post' ? 'x.course_id' : 'p.course_id';
  const person = what === 'reaction' ? 'x.user_id' : 'x.author_id';
  const columns = {
    post: `null::uuid as post_id, x.body, null::text as kind, ${iso('x.edited_at')} as edited_at`,
    comment: `x.post_id, x.body, null::text as kind, ${iso('x.edited_at')} as edited_at`,
    reaction: 'x.post_id, null::text as body, x.kind::text as kind, null::text as edited_at',
  }[what];
  return pages<ContentRow>(s.em, s.batchSize ?? BATCH.content, (after, size) => {
    const params: unknown[] = [s.tenantId, s.subjectId];
    const keyset = keysetAfter(after, 'x.created_at', 'x.id', params);
    return [`select x.id, c.id as course_id, c.code, c.title, ${columns}, ${iso('x.created_at')} as created_at
               from ${table} join course c on c.tenant_id = x.tenant_id and c.id = ${course}
              where x.tenant_id = ? and ${person} = ? ${keyset} order by x.created_at, x.id limit ?`, [...params, size]];
  }, (r) => [r.created_at, r.id]);
}

export interface HistoryRow {
  event_id: string;
  occurred_at: string;
  categories: string;
  access_kind: string;
  purpose: string;
  actor_kind: string;
  actor_role: string | null;
  actor_pseudonym: string | null;
  credential_id: string | null;
  root_field: string;
  outcome: string;
  /** A DISCLOSE event's resources (`;`-separated), which name its recipient (`LtiTool:<id>`); null for other kinds. */
  disclosed_to: string | null;
  /** Filled in only when the tenant shows accessor names. */
  accessor_name?: string | null;
}

/**
 * The person's access events page by page (oldest or newest first), with `columns` of the event page
 * `p` and of `joins`. Each page is cut from the person's own index range first, and each lookup is a
 * LATERAL … LIMIT 1 subquery, which the planner cannot flatten: joined plainly, it starts from every
 * event or leaf of the tenant, a scan per page.
 */
function historyPages<T extends { event_id: string; occurred_at: string }>(s: ExportSource,
  opts: { columns: string; joins: string; joinParams?: unknown[]; descending?: boolean }): AsyncGenerator<T[]> {
  const order = opts.descending ? 'desc' : '';
  return pages<T>(s.em, s.batchSize ?? BATCH.history, (after, size) => {
    const params: unknown[] = [s.tenantId, s.pseudonym];
    const keyset = keysetAfter(after, 's.occurred_at', 's.event_id', params, opts.descending);
    params.push(size, ...(opts.joinParams ?? []));
    return [`with page as materialized (
               select s.event_id, s.occurred_at, s.categories from access_event_subject s
                where s.tenant_id = ? and s.pseudonym = ? ${keyset}
                order by s.occurred_at ${order}, s.event_id ${order} limit ?)
             select p.event_id, ${iso('p.occurred_at')} as occurred_at, ${opts.columns}
               from page p ${opts.joins}
              order by p.occurred_at ${order}, p.event_id ${order}`, params];
  }, (r) => [r.occurred_at, r.event_id]);
}

/** Display names of accessors by pseudonym, looked up once per page for the actors not seen before. */
class AccessorNames {
  private readonly names = new Map<string, string | null>();

  constructor(private readonly s: ExportSource) {}

  async fill(rows: HistoryRow[]): Promise<void> {
    const unknown = [...new Set(rows.map((r) => r.actor_pseudonym).filter((p): p is string => p !== null && !this.names.has(p)))];
    if (unknown.length) {
      const found = await execBound<{ pseudonym: string; display_name: string }>(this.s.em,
        `select k.pseudonym, u.display_name from subject_key k join app_user u on u.tenant_id = k.tenant_id and u.id = k.user_id
          where k.tenant_id = ? and k.pseudonym = any(?::uuid[])`, [this.s.tenantId, pgArray(unknown)]);
      for (const p of unknown) this.names.set(p, null); // an erased accessor has no name left
      for (const f of found) this.names.set(f.pseudonym, f.display_name);
    }
    for (const r of rows) r.accessor_name = r.actor_pseudonym ? this.names.get(r.actor_pseudonym) ?? null : null;
  }
}

/**
 * The person's access events the export lists: exactly those sealed under its checkpoint (`s.listed`,
 * the leaves the manifest proves). Accessor names only when the tenant allows them.
 */
export async function* sealedHistory(s: ExportSource, descending = false): AsyncGenerator<HistoryRow[]> {
  if (!s.pseudonym) return;
  const names = s.settings.showAccessorNames ? new AccessorNames(s) : null;
  const pagesOf = historyPages<HistoryRow>(s, {
    columns: `array_to_string(p.categories, ';') as categories, e.access_kind, e.purpose, e.actor_kind, e.actor_role, e.actor_pseudonym,
              e.credential_id, e.root_field, e.outcome,
              case when e.access_kind = 'DISCLOSE' then array_to_string(e.resources, ';') end as disclosed_to`,
    joins: 'cross join lateral (select e.* from access_event e where e.id = p.event_id limit 1) e',
    descending,
  });
  for await (const rows of pagesOf) {
    const listed = rows.filter((r) => s.listed.has(r.event_id));
    if (!listed.length) continue;
    await names?.fill(listed);
    yield listed;
  }
}

/**
 * The person's events sealed under the checkpoint, oldest first, with their leaf index and stored leaf
 * hash (level-0 node): what access-history.csv lists and the manifest proves. Null when an event up
 * to `until` is not sealed under it yet: the export must wait for it.
 */
export async function scanLeaves(s: Pick<ExportSource, 'em' | 'tenantId' | 'pseudonym' | 'checkpoint' | 'batchSize'>, until: Date):
  Promise<ExportLeafInput[] | null> {
  const leaves: ExportLeafInput[] = [];
  if (!s.pseudonym) return leaves;
  const limit = until.toISOString();
  type LeafRow = { event_id: string; occurred_at: string; leaf_index: string | null; hash: Buffer | null };
  const pagesOf = historyPages<LeafRow>(s as ExportSource, {
    columns: 'l.leaf_index::text, n.hash',
    joins: `left join lateral (select l.tenant_id, l.leaf_index from audit_leaf l
                                 where l.event_id = p.event_id and l.leaf_index < ? limit 1) l on true
            left join lateral (select n.hash from audit_node n
                                 where n.tenant_id = l.tenant_id and n.level = 0 and n.idx = l.leaf_index limit 1) n on true`,
    joinParams: [s.checkpoint.treeSize],
  });
  for await (const rows of pagesOf) {
    for (const r of rows) {
      if (r.leaf_index === null) {
        if (r.occurred_at <= limit) return null; // same ISO format: the strings order as the times do
        continue;
      }
      if (!r.hash) throw new Error(`the audit tree has no leaf hash for sealed event ${r.event_id}`);
      leaves.push({ eventId: r.event_id, leafIndex: Number(r.leaf_index), leafHash: r.hash });
    }
  }
  return leaves;
}

export interface HistorySummary {
  events: number;
  first: string | null;
  last: string | null;
  byPurpose: Record<string, number>;
  byAccessorRole: Record<string, number>;
  byAccessKind: Record<string, number>;
  byCategory: Record<string, number>;
}

/**
 * The access history's summary, tallied while access-history.csv streams (the first file of the
 * archive) and read by the files after it: one pass over the history instead of two.
 */
export class HistoryTally {
  private readonly summary: HistorySummary = {
    events: 0, first: null, last: null, byPurpose: {}, byAccessorRole: {}, byAccessKind: {}, byCategory: {},
  };
  /** Integrations that received the person's data, by credential (as the Art. 19 notices define recipients). */
  private readonly received = new Map<string, Received>();
  /** Third-party tools the person's data was disclosed to (DISCLOSE events naming `LtiTool:<id>`), by tool id. */
  private readonly tools = new Map<string, Received>();
  private complete = false;

  add(r: HistoryRow): void {
    const count = (tally: Record<string, number>, key: string) => { tally[key] = (tally[key] ?? 0) + 1; };
    const t = this.summary;
    t.events++;
    t.first ??= r.occurred_at;
    t.last = r.occurred_at;
    count(t.byPurpose, r.purpose);
    count(t.byAccessorRole, accessorRole(r));
    count(t.byAccessKind, r.access_kind);
    for (const c of r.categories.split(';')) count(t.byCategory, c);
    if (r.actor_kind === 'SERVICE' && r.credential_id && (r.access_kind === 'READ' || r.access_kind === 'DISCLOSE')) {
      receive(this.received, r.credential_id, r);
    }
    if (r.access_kind === 'DISCLOSE' && r.disclosed_to) {
      for (const ref of r.disclosed_to.split(';')) if (ref.startsWith(TOOL_REF)) receive(this.tools, ref.slice(TOOL_REF.length), r);
    }
  }

  finish(): void {
    const t = this.summary;
    for (const key of ['byPurpose', 'byAccessorRole', 'byAccessKind', 'byCategory'] as const) {
      t[key] = Object.fromEntries(Object.entries(t[key]).sort(([a], [b]) => a.localeCompare(b)));
    }
    this.complete = true;
  }

  get(): HistorySummary {
    if (!this.complete) throw new Error(`${HISTORY_FILE} must be written before the files that summarise it`);
    return this.summary;
  }

  /**
   * The recipients: integrations named by their credential's label (an erased or deleted credential by
   * its id), third-party tools by their name (tools are disabled, never deleted).
   */
  async recipients(s: ExportSource): Promise<Recipient[]> {
    this.get();
    const ids = [...this.received.keys()];
    const tokens = ids.length ? await execBound<{ id: string; label: string; scopes: string[] }>(s.em,
      'select id::text, label, scopes from api_token where tenant_id = ? and id::text = any(?::text[])',
      [s.tenantId, `{${ids.filter(isUuid).join(',')}}`]) : [];
    const byId = new Map(tokens.map((t) => [t.id, t]));
    const toolIds = [...this.tools.keys()].filter(isUuid);
    const tools = toolIds.length ? await execBound<{ id: string; name: string }>(s.em,
      'select id::text, name from lti_tool where tenant_id = ? and id = any(?::uuid[])', [s.tenantId, pgArray(toolIds)]) : [];
    const toolNames = new Map(tools.map((t) => [t.id, t.name]));
    const tally = (got: Received) => ({
      categories: [...got.categories].sort(), firstReceivedAt: got.first, lastReceivedAt: got.last, accesses: got.accesses,
    });
    return [
      ...ids.map((id): Recipient => {
        const token = byId.get(id);
        return { recipient: token?.label ?? `integration ${id}`, kind: 'INTEGRATION', credentialId: id, toolId: null, scopes: token?.scopes ?? [],
          ...tally(this.received.get(id)!) };
      }),
      ...[...this.tools].map(([id, got]): Recipient => ({
        recipient: toolNames.get(id) ?? `tool ${id}`, kind: 'TOOL', credentialId: null, toolId: id, scopes: [], ...tally(got),
      })),
    ].sort((a, b) => a.recipient.localeCompare(b.recipient));
  }
}

const TOOL_REF = 'LtiTool:';

interface Received { categories: Set<string>; first: string; last: string; accesses: number }

function receive(map: Map<string, Received>, key: string, r: HistoryRow): void {
  let got = map.get(key);
  if (!got) map.set(key, (got = { categories: new Set(), first: r.occurred_at, last: r.occurred_at, accesses: 0 }));
  for (const c of r.categories.split(';')) got.categories.add(c);
  got.last = r.occurred_at;
  got.accesses++;
}

export interface Recipient {
  recipient: string;
  /** An integration (a SERVICE credential) or a third-party tool. */
  kind: 'INTEGRATION' | 'TOOL';
  credentialId: string | null;
  toolId: string | null;
  scopes: string[];
  categories: string[];
  firstReceivedAt: string;
  lastReceivedAt: string;
  accesses: number;
}

interface ProfileRow {
  id: string; given_name: string; family_name: string; display_name: string; email: string; student_number: string | null;
  avatar_url: string | null; role: string; status: string; source: string; created_at: string; updated_at: string;
  deactivated_at: string | null; tenant_name: string; sis: SisSource[] | null;
}

interface TokenRow { id: string; kind: string; label: string; prefix: string; scopes: string[]; created_at: string; expires_at: string;
  revoked_at: string | null; last_used_at: string | null; status: string }

interface RequestRow {
  id: string; type: string; status: DataRequestStatus; filed_on_behalf: boolean; note: string | null; filed_at: string; due_at: string;
  extended_at: string | null; extension_days: number | null; extension_reason: string | null; decided_at: string | null;
  rejection_reason: string | null; started_at: string | null; completed_at: string | null; cancelled_at: string | null;
  failed_at: string | null; failure: string | null; lifted_at: string | null; lift_reason: string | null; purge_after: string | null;
  held_since: string | null; overdue: boolean; changes: { field: string; before?: string | null; after: string | null }[] | null;
  history: { status: string; at: string; by: string }[];
  x_created_at: string | null; x_expires_at: string | null; x_bytes: string | null; x_sha256: string | null; x_events: number | null;
  x_expired: boolean | null;
}

interface HoldRow { id: string; reason: string; placed_at: string; released_at: string | null; release_reason: string | null }

interface NoticeRow {
  request_id: string; recipient: string; reason: string; categories: string[]; last_received_at: string; created_at: string;
  sent_at: string | null; tool_id: string | null; delivery: string | null; delivery_attempts: number;
}

interface DeviceUse { value: string; firstSeen: string; lastSeen: string; requests: number }

/** The small, per-person part of an export, loaded once and shared by export.json and index.html. */
export interface ExportSummary {
  institution: { tenantId: string; name: string };
  profile: ProfileRow;
  restrictions: { reason: string; since: string }[];
  credentials: TokenRow[];
  requests: RequestRow[];
  holds: HoldRow[];
  /** Art. 19 notices owed to recipients after the person's rectifications and erasures. */
  notices: NoticeRow[];
  counts: { posts: number; comments: number; reactions: number; enrollments: number; grades: number; tokens: number; requests: number };
  devices: { ipAddresses: DeviceUse[]; userAgents: DeviceUse[]; notListed: number; unreadable: number };
}

async function one<T>(em: EntityManager, sql: string, params: unknown[]): Promise<T> {
  const [row] = await execBound<T>(em, sql, params);
  return row;
}

/** The IP addresses and user agents of the person's own requests, decrypted with their key: distinct values, with first and last use. */
async function devicesOf(s: ExportSource): Promise<ExportSummary['devices']> {
  const out: ExportSummary['devices'] = { ipAddresses: [], userAgents: [], notListed: 0, unreadable: 0 };
  if (!s.pseudonym) return out;
  const keyRow = await one<{ key: Buffer } | undefined>(s.em, 'select key from subject_key where tenant_id = ? and pseudonym = ?',
    [s.tenantId, s.pseudonym]);
  if (!keyRow) return out;
  const ips = new Map<string, DeviceUse>();
  const agents = new Map<string, DeviceUse>();
  const note = (map: Map<string, DeviceUse>, sealed: Buffer | null, at: string) => {
    if (!sealed) return;
    let value: string;
    try {
      value = openForSubject(keyRow.key, sealed);
    } catch {
      out.unreadable++;
      return;
    }
    const use = map.get(value);
    if (use) {
      use.lastSeen = at;
      use.requests++;
    } else if (map.size < MAX_DEVICES) {
      map.set(value, { value, firstSeen: at, lastSeen: at, requests: 1 });
    } else {
      out.notListed++;
    }
  };
  const batches = pages<{ id: string; occurred_at: string; actor_ip: Buffer | null; actor_user_agent: Buffer | null }>(
    s.em, s.batchSize ?? BATCH.small, (after, size) => {
      const params: unknown[] = [s.tenantId, s.pseudonym];
      const keyset = keysetAfter(after, 'e.occurred_at', 'e.id', params);
      return [`select e.id, ${iso('e.occurred_at')} as occurred_at, e.actor_ip, e.actor_user_agent from access_event e
                where e.tenant_id = ? and e.actor_pseudonym = ? and (e.actor_ip is not null or e.actor_user_agent is not null) ${keyset}
                order by e.occurred_at, e.id limit ?`, [...params, size]];
    }, (r) => [r.occurred_at, r.id]);
  for await (const rows of batches) {
    for (const r of rows) {
      note(ips, r.actor_ip, r.occurred_at);
      note(agents, r.actor_user_agent, r.occurred_at);
    }
  }
  out.ipAddresses = [...ips.values()];
  out.userAgents = [...agents.values()];
  return out;
}

export async function loadSummary(s: ExportSource): Promise<ExportSummary> {
  const { em, tenantId, subjectId } = s;
  const profile = await one<ProfileRow | undefined>(em,
    `select u.id, u.given_name, u.family_name, u.display_name, u.email, u.student_number, u.avatar_url, u.role::text, u.status::text,
            u.source::text, ${iso('u.created_at')} as created_at, ${iso('u.updated_at')} as updated_at,
            ${iso('u.deactivated_at')} as deactivated_at, t.name as tenant_name, ${sisSources('user', 'u.id')}
       from app_user u join tenant t on t.id = u.tenant_id where u.tenant_id = ? and u.id = ?`, [tenantId, tenantId, subjectId]);
  if (!profile) throw new Error(`member ${subjectId} of tenant ${tenantId} does not exist`);
  const restrictions = await execBound<{ reason: string; since: string }>(em,
    `select reason, ${iso('since')} as since from processing_restriction where tenant_id = ? and user_id = ? order by since`,
    [tenantId, subjectId]);
  const credentials = await execBound<TokenRow>(em,
    `select id, kind::text, label, prefix, scopes, ${iso('created_at')} as created_at, ${iso('expires_at')} as expires_at,
            ${iso('revoked_at')} as revoked_at, ${iso('last_used_at')} as last_used_at,
            case when revoked_at is not null then 'REVOKED' when expires_at <= now() then 'EXPIRED' else 'ACTIVE' end as status
       from api_token where tenant_id = ? and user_id = ? order by created_at, id`, [tenantId, subjectId]);
  const requests = await execBound<RequestRow>(em,
    `select r.id, r.type, r.status, r.filed_on_behalf, r.note, ${iso('r.filed_at')} as filed_at, ${iso('r.due_at')} as due_at,
            ${iso('r.extended_at')} as extended_at, r.extension_days, r.extension_reason, ${iso('r.decided_at')} as decided_at,
            r.rejection_reason, ${iso('r.started_at')} as started_at, ${iso('r.completed_at')} as completed_at,
            ${iso('r.cancelled_at')} as cancelled_at, ${iso('r.failed_at')} as failed_at, r.failure, ${iso('r.lifted_at')} as lifted_at,
            r.lift_reason, ${iso('r.purge_after')} as purge_after, ${iso('r.held_since')} as held_since,
            (r.status = any(?::text[]) and r.due_at < now()) as overdue, r.changes, r.history,
            ${iso('x.created_at')} as x_created_at, ${iso('x.expires_at')} as x_expires_at, x.bytes::text as x_bytes, x.sha256 as x_sha256,
            x.events as x_events, (x.deleted_at is not null or x.expires_at <= now()) as x_expired
       from data_subject_request r left join data_export x on x.request_id = r.id
      where r.tenant_id = ? and r.subject_id = ? order by r.filed_at, r.id`,
    [`{${OPEN_STATUSES.join(',')}}`, tenantId, subjectId]);
  const holds = await execBound<HoldRow>(em,
    `select id, reason, ${iso('placed_at')} as placed_at, ${iso('released_at')} as released_at, release_reason
       from legal_hold where tenant_id = ? and user_id = ? order by placed_at, id`, [tenantId, subjectId]);
  const notices = await execBound<NoticeRow>(em,
    `select n.request_id, n.recipient, n.reason, n.categories, ${iso('n.last_received_at')} as last_received_at,
            ${iso('n.created_at')} as created_at, ${iso('n.sent_at')} as sent_at, n.tool_id, n.delivery, n.delivery_attempts
       from recipient_notice n join data_subject_request r on r.tenant_id = n.tenant_id and r.id = n.request_id
      where n.tenant_id = ? and r.subject_id = ? order by n.created_at, n.id`, [tenantId, subjectId]);
  const c = await one<Record<string, string>>(em,
    `select (select count(*) from post where tenant_id = ? and author_id = ?) as posts,
            (select count(*) from comment where tenant_id = ? and author_id = ?) as comments,
            (select count(*) from reaction where tenant_id = ? and user_id = ?) as reactions,
            (select count(*) from enrollment where tenant_id = ? and user_id = ?) as enrollments,
            (select count(*) from enrollment where tenant_id = ? and user_id = ? and final_grade is not null) as grades`,
    Array.from({ length: 5 }, () => [tenantId, subjectId]).flat());
  return {
    institution: { tenantId, name: profile.tenant_name },
    profile,
    restrictions,
    credentials,
    requests,
    holds,
    notices,
    counts: {
      posts: Number(c.posts), comments: Number(c.comments), reactions: Number(c.reactions), enrollments: Number(c.enrollments),
      grades: Number(c.grades), tokens: credentials.length, requests: requests.length,
    },
    devices: await devicesOf(s),
  };
}

// ---------------------------------------------------------------------------------------------
// What the export says, beyond the data: sources, recipients, rights
// ---------------------------------------------------------------------------------------------

/** Where each kind of record came from. */
export const SOURCES = {
  SIS_IMPORT: 'Imported from the institution\'s student information system',
  MANUAL: 'Entered in Custos by the institution (an administrator) or by the person',
  SELF_ENTERED: 'Written by the person in Custos',
  INSTITUTION: 'Entered by the institution: an administrator or the course\'s instructor',
  ISSUED: 'Issued by Custos when an administrator or the command line created the token',
  RECORDED: 'Recorded by Custos as it happened',
} as const;
type Source = keyof typeof SOURCES;

/** Inside the institution, who receives what (the role matrix); integrations are listed by name in `recipients.thirdParties`. */
export const INTERNAL_RECIPIENTS = [
  { recipient: 'Administrators of the institution', receives: 'Everything in this export, to administer members, courses and requests' },
  {
    recipient: 'Instructors of your courses',
    receives: 'Your names, email, student number, enrollment, grades and what you wrote in their courses',
  },
  {
    recipient: 'Classmates in your courses',
    receives: 'Your display name and profile picture, and what you wrote in the courses you share',
  },
  {
    recipient: 'The student information system integration (SIS sync)',
    receives: 'The directory: names, email, student number, role, enrollments; never grades or content',
  },
  {
    recipient: 'External auditors appointed by the institution',
    receives: 'The access log, which names you only by pseudonym; none of your data itself',
  },
];

const recipientsStatement = (found: number) => (found
  ? 'The integrations and learning tools below received your data from Custos (named by the institution), with what they received and ' +
    'when, from the access log. A learning tool receives what its privacy level allows each time you launch it from a course.'
  : 'Custos holds no record of disclosing your data to a third party: no integration has received any of it, and no learning tool has ' +
    'been launched with it. When one does, it is listed here by name, with what it received and when.');

function rights(settings: PrivacySettings, complaint: string) {
  return [
    {
      right: 'Access', law: 'GDPR Art. 15; FERPA 34 CFR 99.10',
      how: 'This export. You may ask again at any time with a data request of type ACCESS.',
    },
    {
      right: 'Rectification', law: 'GDPR Art. 16; FERPA 34 CFR 99.20',
      how: 'A data request of type RECTIFICATION naming the fields and their correct values.',
    },
    {
      right: 'Erasure', law: 'GDPR Art. 17',
      how: 'A data request of type ERASURE. Once approved your account is restricted at once and erased after ' +
        `${settings.erasureGraceDays} days; what the law requires the institution to keep is listed under "erasure".`,
    },
    {
      right: 'Restriction of processing', law: 'GDPR Art. 18',
      how: 'A data request of type RESTRICTION: only you and administrators see your data until it is lifted.',
    },
    {
      right: 'Notification of recipients', law: 'GDPR Art. 19',
      how: 'Corrections and erasures are passed on to every recipient listed under "recipients".',
    },
    {
      right: 'Data portability', law: 'GDPR Art. 20',
      how: `export.json in this file is structured and machine-readable (format ${EXPORT_FORMAT}).`,
    },
    {
      right: 'Objection', law: 'GDPR Art. 21',
      how: 'Tell the institution\'s data protection officer why you object to processing based on its public task.',
    },
    { right: 'No automated decisions', law: 'GDPR Art. 22', how: 'Custos makes no decision about you by automated means alone.' },
    {
      right: 'Hearing on the content of education records', law: 'FERPA 34 CFR 99.21',
      how: 'Ask the institution for a hearing if a correction is refused.',
    },
    { right: 'Complaint', law: 'GDPR Art. 77; FERPA 34 CFR 99.63', how: complaint },
    {
      right: 'Answer time', law: 'GDPR Art. 12(3)',
      how: `The institution answers each request within ${settings.responseWindowDays} days; it may extend that once, with reasons, ` +
        'by up to 60 days.',
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// export.json
// ---------------------------------------------------------------------------------------------

/** Collects strings and hands them on in pieces of about FLUSH_CHARS. */
class Buffered {
  private parts: string[] = [];
  private size = 0;

  push(text: string): boolean {
    this.parts.push(text);
    this.size += text.length;
    return this.size >= FLUSH_CHARS;
  }

  take(): string {
    const out = this.parts.join('');
    this.parts = [];
    this.size = 0;
    return out;
  }
}

/** A top-level member rendered as indented JSON (small values). */
const member = (key: string, value: unknown) => `  ${JSON.stringify(key)}: ${JSON.stringify(value, null, 2).replace(/\n/g, '\n  ')}`;

const course = (r: { course_id: string; code: string; title: string }): CourseRef => ({ id: r.course_id, code: r.code, title: r.title });

function requestJson(r: RequestRow, currentId: string) {
  return {
    id: r.id, type: r.type, status: r.status, thisExport: r.id === currentId || undefined, filedOnBehalf: r.filed_on_behalf, note: r.note,
    filedAt: r.filed_at, dueAt: r.due_at, overdue: r.overdue, extendedAt: r.extended_at, extensionDays: r.extension_days,
    extensionReason: r.extension_reason, decidedAt: r.decided_at, rejectionReason: r.rejection_reason, startedAt: r.started_at,
    completedAt: r.completed_at, cancelledAt: r.cancelled_at, failedAt: r.failed_at, failure: r.failure, liftedAt: r.lifted_at,
    liftReason: r.lift_reason, purgeAfter: r.purge_after, heldSince: r.held_since,
    changes: (r.changes ?? []).map((c) => ({ field: c.field, before: c.before ?? null, after: c.after })),
    history: r.history.map((h) => ({ status: h.status, at: h.at, by: h.by })),
    export: r.x_created_at ? {
      createdAt: r.x_created_at, expiresAt: r.x_expires_at, bytes: Number(r.x_bytes), sha256: r.x_sha256, events: r.x_events,
      expired: r.x_expired, downloadPath: downloadPathOf(r.id),
    } : null,
    source: (r.filed_on_behalf ? 'INSTITUTION' : 'SELF_ENTERED') satisfies Source,
  };
}

/** Categories whose data the export actually holds for this person (the others are listed as not held). */
function heldCategories(sum: ExportSummary, history: HistorySummary): Set<DataCategory> {
  const held = new Set<DataCategory>(['user.name', 'user.contact.email', 'user.account']);
  const p = sum.profile;
  if (p.student_number) held.add('user.unique_id.student_number');
  if (p.avatar_url) held.add('user.content.self_image');
  if (sum.counts.enrollments) held.add('user.education.enrollment');
  if (sum.counts.grades) held.add('user.education.grade');
  if (sum.counts.posts || sum.counts.comments) held.add('user.content.private');
  if (sum.counts.reactions) held.add('user.behavior.reaction');
  if (sum.counts.tokens) held.add('user.credential');
  if (sum.devices.ipAddresses.length) held.add('user.device.ip_address');
  if (sum.devices.userAgents.length) held.add('user.device.user_agent');
  if (history.events) held.add('user.access_history');
  if (sum.counts.requests || sum.holds.length) held.add('user.data_request');
  return held;
}

export const HISTORY_COLUMNS = (names: boolean) => [
  'event_id', 'occurred_at', 'accessor_role', ...(names ? ['accessor_name'] : []), 'by_you', 'access_kind', 'categories', 'purpose',
  'operation', 'outcome',
];

/** The accessor's tenant role, or the kind of principal when it has none (SYSTEM, AUDITOR, SERVICE). */
const accessorRole = (r: HistoryRow) => r.actor_role ?? r.actor_kind;
/** The person accessed their own data. */
const bySubject = (s: ExportSource, r: HistoryRow) => r.actor_pseudonym !== null && r.actor_pseudonym === s.pseudonym;

export async function* exportJson(s: ExportSource, sum: ExportSummary, tally: HistoryTally, complaint: string): AsyncGenerator<string> {
  const history = tally.get();
  const out = new Buffered();
  const p = sum.profile;
  const names = s.settings.showAccessorNames;
  const head = [
    member('format', EXPORT_FORMAT),
    member('generatedAt', s.createdAt.toISOString()),
    member('linkExpiresAt', s.expiresAt.toISOString()),
    member('institution', sum.institution),
    member('subject', { id: s.subjectId, pseudonym: s.pseudonym }),
    member('request', { id: s.requestId }),
    member('profile', {
      id: p.id, givenName: p.given_name, familyName: p.family_name, displayName: p.display_name, email: p.email,
      studentNumber: p.student_number, avatarUrl: p.avatar_url, role: p.role, status: p.status, source: p.source,
      sourceRecords: p.sis ?? [], createdAt: p.created_at, updatedAt: p.updated_at, deactivatedAt: p.deactivated_at,
    }),
    member('restrictions', sum.restrictions),
  ];
  out.push(`{\n${head.join(',\n')},\n`);

  const list = async function* <T>(key: string, batches: AsyncIterable<T[]>, render: (row: T) => unknown): AsyncGenerator<string> {
    out.push(`  ${JSON.stringify(key)}: [`);
    let first = true;
    for await (const rows of batches) {
      for (const row of rows) {
        if (out.push(`${first ? '' : ','}\n    ${JSON.stringify(render(row))}`)) yield out.take();
        first = false;
      }
    }
    out.push(`${first ? '' : '\n  '}],\n`);
  };
  yield* list('enrollments', enrollments(s), (r: EnrollmentRow) => ({
    id: r.id, course: course(r), role: r.role, finalGrade: r.final_grade, gradedAt: r.graded_at, createdAt: r.created_at,
    source: (r.sis ? 'SIS_IMPORT' : 'INSTITUTION') satisfies Source, sourceRecords: r.sis ?? [],
  }));
  yield* list('posts', content(s, 'post'), (r: ContentRow) => ({
    id: r.id, course: course(r), body: r.body, createdAt: r.created_at, editedAt: r.edited_at, source: 'SELF_ENTERED',
  }));
  yield* list('comments', content(s, 'comment'), (r: ContentRow) => ({
    id: r.id, postId: r.post_id, course: course(r), body: r.body, createdAt: r.created_at, editedAt: r.edited_at, source: 'SELF_ENTERED',
  }));
  yield* list('reactions', content(s, 'reaction'), (r: ContentRow) => ({
    id: r.id, postId: r.post_id, course: course(r), kind: r.kind, createdAt: r.created_at, source: 'SELF_ENTERED',
  }));

  const held = heldCategories(sum, history);
  const recipients = await tally.recipients(s);
  const tail = [
    member('credentials', sum.credentials.map((t) => ({
      id: t.id, kind: t.kind, label: t.label, prefix: t.prefix, scopes: t.scopes, createdAt: t.created_at, expiresAt: t.expires_at,
      revokedAt: t.revoked_at, lastUsedAt: t.last_used_at, status: t.status, source: 'ISSUED',
    }))),
    member('devices', {
      about: 'The IP addresses and browsers of your own requests, kept only encrypted under your key with the access log.',
      ...sum.devices,
    }),
    member('dataRequests', sum.requests.map((r) => requestJson(r, s.requestId))),
    member('legalHolds', sum.holds.map((h) => ({
      id: h.id, reason: h.reason, placedAt: h.placed_at, releasedAt: h.released_at, releaseReason: h.release_reason,
      active: h.released_at === null, source: 'INSTITUTION',
    }))),
    member('erasure', {
      graceDays: s.settings.erasureGraceDays,
      activeLegalHolds: sum.holds.filter((h) => h.released_at === null).length,
      records: sum.counts,
      policy: (Object.keys(ERASURE_POLICY) as DataCategory[]).sort().map((category) => ({ category, ...ERASURE_POLICY[category] })),
    }),
    member('accessHistory', {
      file: HISTORY_FILE,
      columns: HISTORY_COLUMNS(names),
      accessorNames: names,
      events: history.events,
      first: history.first,
      last: history.last,
      byPurpose: history.byPurpose,
      byAccessorRole: history.byAccessorRole,
      byAccessKind: history.byAccessKind,
      byCategory: history.byCategory,
      checkpoint: {
        treeSize: s.checkpoint.treeSize, root: s.checkpoint.root.toString('hex'), createdAt: s.checkpoint.createdAt.toISOString(),
        keyId: s.checkpoint.keyId,
      },
      about: 'Every access to your data sealed into the institution\'s audit log up to the checkpoint above; manifest.json proves each ' +
        `listed event is in the log. ${names ? 'Accessors are named, as the institution allows.'
          : 'Accessors are shown by role only, as the institution decided.'}`,
    }),
    member('categories', EXPORT_CATEGORIES.map((key) => ({
      key, description: DATA_CATEGORIES[key], held: held.has(key), retention: s.settings.retention[key], erasure: ERASURE_POLICY[key],
      fields: s.registry.personalFields().filter((f) => f.category === key).map((f) => f.coordinate).sort(),
    }))),
    member('purposes', (Object.keys(PURPOSES) as Purpose[]).map((key) => ({
      key, description: PURPOSES[key], lawfulBasis: LAWFUL_BASIS[key],
    }))),
    member('recipients', {
      statement: recipientsStatement(recipients.length),
      thirdParties: recipients,
      notices: sum.notices.map((n) => ({
        requestId: n.request_id, recipient: n.recipient, toolId: n.tool_id, reason: n.reason, categories: n.categories,
        lastReceivedAt: n.last_received_at, createdAt: n.created_at, sentAt: n.sent_at, delivery: n.delivery, deliveryAttempts: n.delivery_attempts,
      })),
      withinInstitution: INTERNAL_RECIPIENTS,
    }),
    member('sources', SOURCES),
    member('rights', rights(s.settings, complaint)),
    member('fields', fieldIndex(s.registry).entries),
  ];
  out.push(`${tail.join(',\n')}\n}\n`);
  yield out.take();
}

// ---------------------------------------------------------------------------------------------
// access-history.csv
// ---------------------------------------------------------------------------------------------

export { csvField, csvText };

export async function* historyCsv(s: ExportSource, tally: HistoryTally): AsyncGenerator<string> {
  const names = s.settings.showAccessorNames;
  const out = new Buffered();
  out.push(`${HISTORY_COLUMNS(names).join(',')}\r\n`);
  if (s.pseudonym) {
    for await (const rows of sealedHistory(s)) {
      for (const r of rows) {
        tally.add(r);
        const cells = [r.event_id, r.occurred_at, accessorRole(r), ...(names ? [csvText(r.accessor_name)] : []),
          bySubject(s, r) ? 'yes' : 'no', r.access_kind, csvField(r.categories), csvField(r.purpose), csvField(r.root_field), r.outcome];
        if (out.push(`${cells.join(',')}\r\n`)) yield out.take();
      }
    }
  }
  tally.finish();
  yield out.take();
}

// ---------------------------------------------------------------------------------------------
// index.html
// ---------------------------------------------------------------------------------------------

/** "(SIS import 1f0…, users.csv line 2, sourcedId 604863)" for each SIS record behind a record. */
const sisNote = (sis: SisSource[] | null) => (sis ?? [])
  .map((r) => ` (SIS import ${esc(r.importId)}, ${esc(r.file)} line ${esc(r.line)}, sourcedId ${esc(r.sourcedId)})`).join('');

export { escapeHtml };
const esc = escapeHtml;
const when = (at: string | null) => (at ? esc(at.replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC')) : '—');
const table = htmlTable;
const post = (meta: string, body: string | null) => `<div class="post"><div class="meta">${meta}</div>${esc(body)}</div>\n`;
const facts = (pairs: [string, string][]) => `<dl>${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>\n`;

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
.post{border:1px solid #ddd;border-radius:4px;padding:.5rem .75rem;margin:.5rem 0;white-space:pre-wrap}.meta{color:#555;font-size:.85rem}
.note{background:#f6f8fa;padding:.5rem .75rem;border-left:3px solid #888}`;

export async function* indexHtml(s: ExportSource, sum: ExportSummary, tally: HistoryTally, complaint: string): AsyncGenerator<string> {
  const history = tally.get();
  const out = new Buffered();
  const p = sum.profile;
  const names = s.settings.showAccessorNames;
  const held = heldCategories(sum, history);
  out.push(`<!doctype html>\n<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your data at ${esc(sum.institution.name)}</title><style>${STYLE}</style></head><body>
<h1>Your data at ${esc(sum.institution.name)}</h1>
<p class="note">Everything Custos holds about you for ${esc(sum.institution.name)}, generated ${when(s.createdAt.toISOString())}.
The same data, machine-readable, is in <code>export.json</code>; every access to your data is listed in <code>${HISTORY_FILE}</code>.
<code>manifest.json</code> carries the SHA-256 of each file and a signature: <code>custos export verify</code> checks them offline.</p>
<h2>Profile</h2>
${facts([
    ['Given name', esc(p.given_name)], ['Family name', esc(p.family_name)], ['Display name', esc(p.display_name)], ['Email', esc(p.email)],
    ['Student number', esc(p.student_number ?? '—')], ['Profile picture', esc(p.avatar_url ?? '—')], ['Role', esc(p.role)],
    ['Status', esc(p.status)],
    ['Source', esc(SOURCES[p.source as Source] ?? p.source) + sisNote(p.sis)], ['Created', when(p.created_at)],
    ['Last changed', when(p.updated_at)],
    ['Restricted processing', sum.restrictions.map((r) => `${esc(r.reason)} since ${when(r.since)}`).join('; ') || 'no'],
  ])}`);

  const section = async function* <T>(title: string, count: number, batches: AsyncIterable<T[]>, render: (row: T) => string,
    wrap: [string, string] = ['', '']): AsyncGenerator<string> {
    out.push(`<h2>${esc(title)} (${count})</h2>\n${count ? wrap[0] : '<p>None.</p>\n'}`);
    if (!count) return;
    for await (const rows of batches) for (const row of rows) if (out.push(render(row))) yield out.take();
    out.push(wrap[1]);
  };

  yield* section('Courses and grades', sum.counts.enrollments, enrollments(s),
    (r: EnrollmentRow) => tr([esc(`${r.code} ${r.title}`), esc(r.role), esc(r.final_grade ?? '—'), when(r.graded_at), when(r.created_at),
      r.sis ? esc(SOURCES.SIS_IMPORT) + sisNote(r.sis) : esc(SOURCES.INSTITUTION)]),
    [tableHead(['Course', 'Role', 'Final grade', 'Graded', 'Enrolled', 'Source']), '</tbody></table>\n']);
  yield* section('Posts', sum.counts.posts, content(s, 'post'),
    (r: ContentRow) => post(`${esc(`${r.code} ${r.title}`)} · ${when(r.created_at)}${r.edited_at ? ` · edited ${when(r.edited_at)}` : ''}`,
      r.body));
  yield* section('Comments', sum.counts.comments, content(s, 'comment'),
    (r: ContentRow) => post(`${esc(`${r.code} ${r.title}`)} · on post ${esc(r.post_id)} · ${when(r.created_at)}`, r.body));
  yield* section('Reactions', sum.counts.reactions, content(s, 'reaction'),
    (r: ContentRow) => tr([esc(r.kind), esc(`${r.code} ${r.title}`), esc(r.post_id), when(r.created_at)]),
    [tableHead(['Reaction', 'Course', 'Post', 'When']), '</tbody></table>\n']);

  out.push(`<h2>Sign-in tokens (${sum.credentials.length})</h2>\n<p>Only what identifies each token; the secrets are not kept.</p>\n`);
  out.push(table(['Label', 'Kind', 'Prefix', 'Created', 'Expires', 'Revoked', 'Last used', 'Status'], sum.credentials.map((t) => [
    esc(t.label), esc(t.kind), esc(t.prefix), when(t.created_at), when(t.expires_at), when(t.revoked_at), when(t.last_used_at),
    esc(t.status)])));
  out.push('<h2>Devices</h2>\n<p>IP addresses and browsers of your own requests (kept only encrypted under your key).</p>\n');
  const devices = [...sum.devices.ipAddresses, ...sum.devices.userAgents];
  out.push(table(['IP address or browser', 'First seen', 'Last seen', 'Requests'], devices.map((d) => [
    esc(d.value), when(d.firstSeen), when(d.lastSeen), esc(d.requests)])));
  out.push(`<h2>Your requests (${sum.requests.length})</h2>\n`);
  out.push(table(['Type', 'Status', 'Filed', 'Due', 'Decided', 'Completed', 'Note', 'History'], sum.requests.map((r) => [
    esc(r.type), esc(r.status) + (r.id === s.requestId ? ' (this export)' : ''), when(r.filed_at), when(r.due_at), when(r.decided_at),
    when(r.completed_at), esc(r.note ?? r.rejection_reason ?? ''),
    r.history.map((h) => `${esc(h.status)} ${when(h.at)} by ${esc(h.by)}`).join('<br>')])));
  out.push(`<h2>Legal holds (${sum.holds.length})</h2>\n`);
  out.push(sum.holds.length ? table(['Reason', 'Placed', 'Released', 'Why released'], sum.holds.map((h) => [
    esc(h.reason), when(h.placed_at), when(h.released_at), esc(h.release_reason ?? '')])) : '<p>None.</p>\n');

  out.push('<h2>What Custos holds, why, and for how long</h2>\n');
  out.push(table(['Category', 'Held about you', 'Kept', 'Then', 'On erasure'], EXPORT_CATEGORIES.map((key) => [
    esc(DATA_CATEGORIES[key]), held.has(key) ? 'yes' : 'no', esc(s.settings.retention[key].period), esc(s.settings.retention[key].end),
    esc(ERASURE_POLICY[key].effect)])));
  out.push(table(['Purpose', 'Lawful basis', 'Why'], (Object.keys(PURPOSES) as Purpose[]).map((key) => [
    esc(PURPOSES[key]), esc(LAWFUL_BASIS[key].article), esc(LAWFUL_BASIS[key].explanation)])));
  const recipients = await tally.recipients(s);
  out.push(`<h2>Who receives your data</h2>\n<p>${esc(recipientsStatement(recipients.length))}</p>\n`);
  if (recipients.length) {
    out.push(table(['Recipient', 'Received', 'First', 'Last', 'Times'], recipients.map((r) => [
      esc(r.recipient), esc(r.categories.map((c) => DATA_CATEGORIES[c as DataCategory] ?? c).join('; ')), when(r.firstReceivedAt),
      when(r.lastReceivedAt), esc(r.accesses)])));
  }
  if (sum.notices.length) {
    out.push('<p>Recipients told of your corrections and erasures (GDPR Art. 19):</p>\n');
    out.push(table(['Recipient', 'Why', 'Categories', 'Told'], sum.notices.map((n) => [
      esc(n.recipient), esc(n.reason), esc(n.categories.join(', ')),
      n.sent_at ? when(n.sent_at) : n.delivery === 'FAILED' ? 'delivery failed; to be passed on' : 'not yet'])));
  }
  out.push(table(['Within the institution', 'Receives'], INTERNAL_RECIPIENTS.map((r) => [esc(r.recipient), esc(r.receives)])));
  out.push('<h2>Your rights</h2>\n');
  out.push(table(['Right', 'Law', 'How'], rights(s.settings, complaint).map((r) => [esc(r.right), esc(r.law), esc(r.how)])));

  out.push(`<h2>Who accessed your data (${history.events})</h2>\n` +
    '<p>Every access sealed into the institution\'s audit log up to checkpoint ' +
    `${esc(s.checkpoint.treeSize)} (${when(s.checkpoint.createdAt.toISOString())}), listed in full in <code>${HISTORY_FILE}</code>` +
    `${history.events > HTML_HISTORY_ROWS ? `; the newest ${HTML_HISTORY_ROWS.toLocaleString('en-US')} are shown below` : ''}. ` +
    `${names ? '' : 'Accessors are shown by role only, as the institution decided.'}</p>\n`);
  const counts = (title: string, byKey: Record<string, number>, label: (key: string) => string = (k) => k) =>
    table([title, 'Accesses'], Object.entries(byKey).map(([k, n]) => [esc(label(k)), esc(n)]));
  out.push(counts('Who', history.byAccessorRole));
  out.push(counts('Why', history.byPurpose, (k) => PURPOSES[k as Purpose] ?? k));
  out.push(counts('What', history.byCategory, (k) => DATA_CATEGORIES[k as DataCategory] ?? k));
  if (history.events && s.pseudonym) {
    const cols = ['When', 'Who', ...(names ? ['Name'] : []), 'Access', 'Categories', 'Purpose', 'Operation'];
    out.push(`<h3>Newest first</h3>\n${tableHead(cols)}`);
    let shown = 0;
    for await (const rows of sealedHistory(s, true)) {
      for (const r of rows.slice(0, HTML_HISTORY_ROWS - shown)) {
        const who = esc(accessorRole(r)) + (bySubject(s, r) ? ' (you)' : '');
        out.push(tr([when(r.occurred_at), who, ...(names ? [esc(r.accessor_name ?? '')] : []), esc(r.access_kind),
          esc(r.categories.replace(/;/g, ', ')), esc(PURPOSES[r.purpose as Purpose] ?? r.purpose), esc(r.root_field)]));
      }
      shown += rows.length;
      if (shown >= HTML_HISTORY_ROWS) break;
    }
    out.push('</tbody></table>\n');
  }
  out.push(`<p class="meta">Format ${EXPORT_FORMAT}. The download link expires ${when(s.expiresAt.toISOString())}.</p>\n</body></html>\n`);
  yield out.take();
}

/**
 * The export's files, in archive order; each reads what it lists as it streams. The history comes
 * first: the others summarise it from the tally it leaves (the archive writes one file after another).
 */
export function exportFiles(s: ExportSource, sum: ExportSummary, complaint: string): ExportFileInput[] {
  const tally = new HistoryTally();
  return [
    { name: HISTORY_FILE, content: historyCsv(s, tally) },
    { name: EXPORT_JSON, content: exportJson(s, sum, tally, complaint) },
    { name: EXPORT_HTML, content: indexHtml(s, sum, tally, complaint) },
  ];
}
