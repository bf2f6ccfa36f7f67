/**
 * Records of processing activities (GDPR Art. 30(1)), generated from what Custos itself knows: the
 * classification registry (which fields hold which categories), the purposes and their lawful bases,
 * the institution's retention schedule, who receives what (roles, integrations, third-party tools),
 * and how the data is protected. Institution policy and counts only: no one's personal data.
 */
import { Field, Int, ObjectType } from 'type-graphql';
import { NoPersonalData } from '../../privacy/classify';
import { DATA_CATEGORIES, type DataCategory } from '../../privacy/categories';
import { LAWFUL_BASIS } from '../../privacy/processing';
import { PURPOSES, type Purpose } from '../../audit/purposes';
import { privacyRegistry } from '../../privacy/registry';
import { buildBareSchema } from '../../schema/build';
import type { RequestContext } from '../../server/context';
import { execBound } from '../../db/bound';
import { escapeHtml, htmlTable } from '../../shared/html';
import { loadPrivacySettings } from '../dsr/privacy-settings';
import { INTERNAL_RECIPIENTS } from '../dsr/export/build';
import { LtiPrivacyLevel } from '../lti/lti-tool.entity';
import { personalClaims } from '../lti/lti.claims';

@NoPersonalData()
@ObjectType({ description: 'A category of personal data: where Custos holds it and how long.' })
export class ProcessedCategory {
  @Field(() => String) category!: string;
  @Field(() => String) description!: string;
  @Field(() => [String], { description: 'The API fields holding it (Type.field).' }) fields!: string[];
  @Field(() => String) retention!: string;
  @Field(() => String, { description: 'What ends the retention, and what happens then.' }) retentionEnd!: string;
  @Field(() => Boolean, { description: 'The institution set its own period.' }) retentionOverridden!: boolean;
}

@NoPersonalData()
@ObjectType({ description: 'People whose data is processed, by kind, with how many there are now.' })
export class ProcessedSubjects {
  @Field(() => String, { description: 'ADMIN, INSTRUCTOR or STUDENT.' }) role!: string;
  @Field(() => String) description!: string;
  @Field(() => Int, { description: 'Active members in this role.' }) active!: number;
  @Field(() => Int, { description: 'Deactivated members (their records are still held).' }) deactivated!: number;
}

@NoPersonalData()
@ObjectType({ description: 'A purpose of processing and its lawful basis.' })
export class ProcessingPurpose {
  @Field(() => String) purpose!: string;
  @Field(() => String) description!: string;
  @Field(() => String, { description: 'contract, legal_obligation, public_task or legitimate_interests.' }) lawfulBasis!: string;
  @Field(() => String) article!: string;
  @Field(() => String) explanation!: string;
}

@NoPersonalData()
@ObjectType({ description: 'Who receives personal data, and which.' })
export class ProcessingRecipient {
  @Field(() => String) recipient!: string;
  @Field(() => String, { description: 'INTERNAL (a role in the institution), INTEGRATION (a SERVICE credential) or TOOL (LTI).' }) kind!: string;
  @Field(() => String) receives!: string;
  @Field(() => [String]) categories!: string[];
  @Field(() => String, { nullable: true, description: 'Where a tool runs (the host of its launch URL).' }) host!: string | null;
}

@NoPersonalData()
@ObjectType({ description: 'Personal data leaving the institution\'s installation, and to where.' })
export class ProcessingTransfer {
  @Field(() => String) recipient!: string;
  @Field(() => String) destination!: string;
  @Field(() => String) note!: string;
}

@NoPersonalData()
@ObjectType({ description: 'Records of processing activities (GDPR Art. 30(1)) of the institution\'s use of Custos.' })
export class RecordsOfProcessing {
  @Field(() => String) controller!: string;
  @Field(() => Date) generatedAt!: Date;
  @Field(() => [ProcessingPurpose]) purposes!: ProcessingPurpose[];
  @Field(() => [ProcessedSubjects]) subjects!: ProcessedSubjects[];
  @Field(() => [ProcessedCategory]) categories!: ProcessedCategory[];
  @Field(() => [ProcessingRecipient]) recipients!: ProcessingRecipient[];
  @Field(() => [ProcessingTransfer]) transfers!: ProcessingTransfer[];
  @Field(() => [String], { description: 'Technical and organisational security measures (Art. 32).' }) securityMeasures!: string[];
  @Field(() => String, { description: 'The same records as a self-contained HTML page (no external assets).' }) html!: string;
}

const SUBJECT_KINDS: Record<string, string> = {
  STUDENT: 'Students of the institution',
  INSTRUCTOR: 'Instructors (teaching staff)',
  ADMIN: 'Administrators of the institution',
};

/** What a SERVICE credential's scopes let it read or write (see auth/principal.ts). */
const SCOPE_CATEGORIES: Record<string, DataCategory[]> = {
  'roster:read': ['user.account', 'user.contact.email', 'user.education.enrollment', 'user.name', 'user.unique_id.student_number'],
  'roster:import': ['user.account', 'user.contact.email', 'user.education.enrollment', 'user.name', 'user.unique_id.student_number'],
};

export const SECURITY_MEASURES = [
  'Tenant isolation enforced by PostgreSQL row-level security on every table, besides the application\'s own checks',
  'Role-based access control on every field (graphql-shield), denials recorded in the access log',
  'Every read, write, disclosure and denial of personal data recorded in an append-only access log, sealed into a Merkle tree with Ed25519-signed checkpoints that anyone holding the public key can verify',
  'People appear in the access log only by pseudonym; the IP address and browser of a person\'s own requests are encrypted under a key of theirs, deleted on erasure',
  'Bearer tokens stored only as SHA-256 hashes, expiring, revocable; auditor tokens read-only, at most 90 days, optionally limited to a window of events',
  'Processing restriction (Art. 18) and erasure (Art. 17) enforced by the database: restricted people are hidden from everyone but themselves and administrators',
  'Third-party tools receive only the claims of their privacy level, under an opaque per-tool identifier, in RS256-signed tokens',
  'Right-of-access exports signed and verifiable offline; download links expire',
];

const host = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

export async function recordsOfProcessing(ctx: RequestContext, now = new Date()): Promise<RecordsOfProcessing> {
  const { em, tenantId } = ctx;
  const [tenant] = await execBound<{ name: string }>(em, 'select name from tenant where id = ?', [tenantId]);
  const settings = await loadPrivacySettings(em, tenantId);
  const registry = privacyRegistry(await buildBareSchema());
  const fieldsOf = new Map<string, string[]>();
  for (const f of registry.personalFields()) fieldsOf.set(f.category, [...(fieldsOf.get(f.category) ?? []), f.coordinate]);

  const counts = await execBound<{ role: string; active: number; deactivated: number }>(em,
    `select role::text, count(*) filter (where status = 'ACTIVE')::int as active, count(*) filter (where status <> 'ACTIVE')::int as deactivated
       from app_user where tenant_id = ? and erased_at is null group by role`, [tenantId]);
  const integrations = await execBound<{ label: string; scopes: string[] }>(em,
    `select label, scopes from api_token where tenant_id = ? and kind = 'SERVICE' and revoked_at is null and expires_at > now() order by label, id`,
    [tenantId]);
  const tools = await execBound<{ name: string; privacy_level: LtiPrivacyLevel; launch_url: string; notification_url: string | null }>(em,
    'select name, privacy_level, launch_url, notification_url from lti_tool where tenant_id = ? and enabled order by name, id', [tenantId]);
  const everything = { givenName: 'g', familyName: 'f', displayName: 'd', email: 'e', avatarUrl: 'a', studentNumber: 's', sourcedId: null };

  const records: Omit<RecordsOfProcessing, 'html'> = {
    controller: tenant?.name ?? tenantId,
    generatedAt: now,
    purposes: (Object.keys(PURPOSES) as Purpose[]).map((purpose) => ({
      purpose, description: PURPOSES[purpose], lawfulBasis: LAWFUL_BASIS[purpose].basis, article: LAWFUL_BASIS[purpose].article,
      explanation: LAWFUL_BASIS[purpose].explanation,
    })),
    subjects: ['STUDENT', 'INSTRUCTOR', 'ADMIN'].map((role) => {
      const c = counts.find((r) => r.role === role);
      return { role, description: SUBJECT_KINDS[role], active: c?.active ?? 0, deactivated: c?.deactivated ?? 0 };
    }),
    categories: (Object.keys(DATA_CATEGORIES) as DataCategory[]).map((category) => ({
      category, description: DATA_CATEGORIES[category], fields: (fieldsOf.get(category) ?? []).sort(),
      retention: settings.retention[category].period, retentionEnd: settings.retention[category].end,
      retentionOverridden: settings.retention[category].overridden,
    })),
    recipients: [
      ...INTERNAL_RECIPIENTS.map((r) => ({ recipient: r.recipient, kind: 'INTERNAL', receives: r.receives, categories: [], host: null })),
      ...integrations.map((t) => ({
        recipient: t.label, kind: 'INTEGRATION', receives: `A system integration with scopes ${t.scopes.join(', ')}`,
        categories: [...new Set(t.scopes.flatMap((s) => SCOPE_CATEGORIES[s] ?? []))].sort(), host: null,
      })),
      ...tools.map((t) => ({
        recipient: t.name, kind: 'TOOL', receives: `A learning tool launched from courses, privacy level ${t.privacy_level}`,
        categories: personalClaims(t.privacy_level, everything).categories, host: host(t.launch_url),
      })),
    ],
    transfers: tools.map((t) => ({
      recipient: t.name,
      destination: [host(t.launch_url), t.notification_url ? host(t.notification_url) : null].filter(Boolean).join(', '),
      note: 'Data sent at each launch to the tool\'s servers. The institution records the country and, outside the EEA, the safeguard ' +
        '(GDPR Art. 44–46) in its agreement with the tool\'s provider.',
    })),
    securityMeasures: SECURITY_MEASURES,
  };
  return { ...records, html: recordsHtml(records) };
}

const esc = escapeHtml;
const table = htmlTable;

function recordsHtml(r: Omit<RecordsOfProcessing, 'html'>): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Records of processing — ${esc(r.controller)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}h2{margin-top:2rem;border-bottom:1px solid #ccc}</style></head><body>
<h1>Records of processing activities (GDPR Art. 30(1))</h1>
<p>Controller: <strong>${esc(r.controller)}</strong>. Generated ${esc(r.generatedAt.toISOString())} from the platform's own configuration.</p>
<h2>Purposes and lawful bases</h2>
${table(['Purpose', 'Description', 'Lawful basis', 'Where the law says it', 'Why'], r.purposes.map((p) => [
    esc(p.purpose), esc(p.description), esc(p.lawfulBasis), esc(p.article), esc(p.explanation)]))}
<h2>Categories of data subjects</h2>
${table(['Role', 'Who', 'Active', 'Deactivated'], r.subjects.map((s) => [esc(s.role), esc(s.description), esc(s.active), esc(s.deactivated)]))}
<h2>Categories of personal data and retention</h2>
${table(['Category', 'Description', 'Held in', 'Kept', 'Then'], r.categories.map((c) => [
    esc(c.category), esc(c.description), c.fields.map(esc).join('<br>') || '—',
    esc(c.retention) + (c.retentionOverridden ? ' (set by the institution)' : ''), esc(c.retentionEnd)]))}
<h2>Recipients</h2>
${table(['Recipient', 'Kind', 'Receives', 'Categories', 'Host'], r.recipients.map((x) => [
    esc(x.recipient), esc(x.kind), esc(x.receives), x.categories.map(esc).join('<br>') || '—', esc(x.host ?? '—')]))}
<h2>Transfers</h2>
${r.transfers.length ? table(['Recipient', 'Destination', 'Note'], r.transfers.map((t) => [esc(t.recipient), esc(t.destination), esc(t.note)]))
    : '<p>No personal data leaves the installation: no third-party tool is enabled.</p>'}
<h2>Security measures (Art. 32)</h2>
<ul>${r.securityMeasures.map((m) => `<li>${esc(m)}</li>`).join('')}</ul>
</body></html>
`;
}
