import type { RequestContext } from '../../server/context';
import { csvField, csvText } from '../../shared/csv';
import * as reports from './report.service';
import type { ReportFilters } from './report.service';

/**
 * The reports as CSV files: the same service calls and the same rows as the GraphQL queries, one file
 * per list of rows, columns named like the GraphQL fields. RFC 4180 (CRLF, quoted where needed); text
 * that a spreadsheet would run as a formula is prefixed with an apostrophe.
 */

type Cell = string | number | boolean | Date | null;
type Row = Record<string, Cell>;

export type ReportFilter = 'role' | 'category' | 'purpose';

export interface CsvReport {
  /** The GraphQL root field answering the same rows (named in the download's access event). */
  field: string;
  /** Filters besides from and until. */
  filters: readonly ReportFilter[];
  /** Whether it takes a time range at all. */
  ranged: boolean;
  columns: readonly string[];
  rows(ctx: RequestContext, f: ReportFilters): Promise<Row[]>;
}

const asRows = <T extends object>(list: T[]) => list as unknown as Row[];

export const CSV_REPORTS: Readonly<Record<string, CsvReport>> = {
  'access-summary': {
    field: 'accessSummaryReport', filters: ['role', 'category', 'purpose'], ranged: true,
    columns: ['day', 'role', 'category', 'purpose', 'accessKind', 'events', 'subjects'],
    rows: async (ctx, f) => asRows((await reports.accessSummary(ctx, f)).rows),
  },
  'denied-attempts': {
    field: 'deniedAttemptsReport', filters: ['role', 'purpose'], ranged: true,
    columns: ['actorPseudonym', 'actorKind', 'role', 'credentialId', 'operation', 'purpose', 'attempts', 'firstAt', 'lastAt'],
    rows: async (ctx, f) => asRows((await reports.deniedAttempts(ctx, f)).rows),
  },
  'privileged-access': {
    field: 'privilegedAccessReport', filters: ['category', 'purpose'], ranged: true,
    columns: ['actorPseudonym', 'credentialId', 'operation', 'purpose', 'category', 'events', 'students', 'firstAt', 'lastAt'],
    rows: async (ctx, f) => asRows((await reports.privilegedAccess(ctx, f)).rows),
  },
  disclosures: {
    field: 'disclosuresReport', filters: ['role', 'category', 'purpose'], ranged: true,
    columns: ['recipient', 'recipientName', 'category', 'events', 'subjects', 'firstAt', 'lastAt'],
    rows: async (ctx, f) => asRows((await reports.disclosures(ctx, f)).rows),
  },
  'request-compliance': {
    field: 'requestComplianceReport', filters: [], ranged: true,
    columns: ['type', 'filed', 'submitted', 'approved', 'inProgress', 'completed', 'rejected', 'cancelled', 'failed', 'expired',
      'completedOnTime', 'completedLate', 'onTimeShare', 'medianDaysToComplete', 'p90DaysToComplete', 'overdue'],
    rows: async (ctx, f) => asRows((await reports.requestCompliance(ctx, f)).rows),
  },
  'overdue-requests': {
    field: 'requestComplianceReport', filters: [], ranged: true,
    columns: ['requestId', 'type', 'status', 'filedAt', 'dueAt', 'daysOverdue'],
    rows: async (ctx, f) => asRows((await reports.requestCompliance(ctx, f)).overdue),
  },
  'audit-chain-status': {
    field: 'auditChainStatusReport', filters: [], ranged: false,
    columns: ['treeSize', 'checkpointAt', 'root', 'keyId', 'unsealedEvents', 'oldestUnsealedAt', 'sealingLagSeconds', 'lastVerifiedAt',
      'lastVerificationOk', 'lastVerificationRootCause', 'lastVerificationFailures', 'lastVerifiedTreeSize'],
    rows: async (ctx) => [await reports.auditChainStatus(ctx) as unknown as Row],
  },
};

function cell(v: Cell | undefined): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number' || typeof v === 'boolean') return csvField(String(v));
  return csvText(v);
}

/** The file: a header line, then one line per row, every line ending in CRLF. */
export function toCsv(columns: readonly string[], rows: Row[]): string {
  const lines = [columns.map(csvField).join(',')];
  for (const r of rows) lines.push(columns.map((c) => cell(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
