// A right-of-access export of one busy person, measured without HTTP on a database of its own: the
// export job (the real JobRunner, application role, row-level security) over a subject with thousands
// of posts and tens of thousands of sealed access events; wall time and peak RSS of the process that
// runs it (a child process of its own, see export-worker.ts).
import { fork } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { openPromise } from 'yauzl';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createTenant } from '../src/modules/tenant/tenant.service';
import { createMember } from '../src/modules/user/user.service';
import { createCourseIn, enrollIn } from '../src/modules/course/course.service';
import { UserRole } from '../src/modules/user/user.entity';
import { CourseRole } from '../src/modules/course/enrollment.entity';
import { sealOnce } from '../src/audit/sealer';
import { signingKeyFromPem } from '../src/audit/checkpoint';
import { enqueueJob } from '../src/jobs/queue';
import { PROCESS_JOB } from '../src/modules/dsr/dsr.service';
import { verifyExportPackage } from '../src/modules/dsr/export/verify-package';
import { envNumber, mb } from './support';
import type { ExportWorkerResult } from './export-worker';

export const EXPORT_TARGETS = {
  /** The export job of one subject, end to end (reading, rendering, proving, signing, storing), in seconds. */
  wallSeconds: 5,
  /** Peak resident memory of the process while it runs, in MB. */
  peakRssMb: 200,
};

/** Other people in the tenant whose events interleave with the subject's in the tree. */
const OTHER_PEOPLE = 500;
const EVENTS_PER_TRANSACTION = 1_000;

export interface ExportSettings {
  posts: number;
  events: number;
  /** Events about other people, interleaved with the subject's (so the proof is a real multiproof). */
  otherEvents: number;
}

export function readExportSettings(): ExportSettings {
  return {
    posts: envNumber('BENCH_EXPORT_POSTS', 5_000, { integer: true }),
    events: envNumber('BENCH_EXPORT_EVENTS', 50_000, { integer: true }),
    otherEvents: envNumber('BENCH_EXPORT_OTHER_EVENTS', 50_000, { integer: true, allowZero: true }),
  };
}

export interface ExportResults {
  settings: ExportSettings;
  seedSeconds: number;
  sealSeconds: number;
  wallSeconds: number;
  /** Peak resident memory of the process that ran the export job (its whole life: loading, connecting, the job). */
  peakRssBytes: number;
  rssBeforeBytes: number;
  zipBytes: number;
  chunks: number;
  eventsListed: number;
  proofNodes: number;
  manifestBytes: number;
  verified: boolean;
  verifySeconds: number;
}

export interface ExportContext {
  owner: MikroORM;
  ownerUrl: string;
  settings: ExportSettings;
  say: (line?: string) => void;
  checkInterrupted: () => void;
}

const n0 = (n: number) => Math.round(n).toLocaleString('en-US');

/** Runs export-worker.js (compiled next to this file) and returns what it measured. */
function runWorker(databaseUrl: string, pem: string): Promise<ExportWorkerResult> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'export-worker.js'), [], {
      execArgv: [], env: { ...process.env, EXPORT_BENCH_DATABASE_URL: databaseUrl, EXPORT_BENCH_SIGNING_KEY: pem }, stdio: 'inherit',
    });
    let answered = false;
    child.once('message', (m: { ok: true; result: ExportWorkerResult } | { ok: false; error: string }) => {
      answered = true;
      if (m.ok) resolve(m.result);
      else reject(new Error(`the export worker failed: ${m.error}`));
    });
    child.once('error', reject);
    child.once('exit', (code) => { if (!answered) reject(new Error(`the export worker exited with code ${code} without an answer`)); });
  });
}

/** Size of manifest.json and the length of its proof, read from the archive. */
async function readManifest(file: string): Promise<{ bytes: number; proofNodes: number }> {
  const zip = await openPromise(file, { autoClose: false });
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName !== 'manifest.json') continue;
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks);
      return { bytes: text.length, proofNodes: (JSON.parse(text.toString('utf8')) as { audit: { proof: string[] } }).audit.proof.length };
    }
    throw new Error('the export has no manifest.json');
  } finally {
    zip.close();
  }
}

/**
 * One transaction's events ($4..$5 of the series): an instructor reading a roster, a year's worth spread
 * evenly before now. Event n is about the subject when ⌊(n+1)·E/T⌋ > ⌊n·E/T⌋ (E of the T events, spread
 * evenly through the tree), otherwise about one of the others.
 */
const INSERT_EVENTS = `
  with ev as (
    insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, operation_name, root_field, fields,
                              access_kind, purpose, actor_kind, actor_role, actor_pseudonym, credential_id, resources,
                              outcome, error_code, item_count, actor_ip, actor_user_agent)
    select gen_random_uuid(), $1::uuid, now() - interval '365 days' + g * $6::interval, 'bench-export-' || g, 'query', 'Roster',
           'Query.course', array['Enrollment.finalGrade', 'User.email'], 'READ', 'education.delivery', 'USER', 'INSTRUCTOR', $2::uuid,
           $3::text, array[]::text[], 'SUCCESS', null, 1, null, null
      from generate_series($4::int, $5::int) as g
    returning id, tenant_id, occurred_at, request_id
  )
  insert into access_event_subject (tenant_id, pseudonym, occurred_at, event_id, categories)
  select ev.tenant_id,
         case when (n + 1)::bigint * $7::bigint / $8::bigint > n::bigint * $7::bigint / $8::bigint then $9::uuid
              else ($10::uuid[])[1 + n % cardinality($10::uuid[])] end,
         ev.occurred_at, ev.id, array['user.contact.email', 'user.education.grade']
    from ev cross join lateral (select substring(ev.request_id from '[0-9]+$')::int as n) as x`;

export async function runExportBench(ctx: ExportContext): Promise<ExportResults> {
  const { settings: s } = ctx;
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const key = signingKeyFromPem(pem);
  const client = new pg.Client({ connectionString: ctx.ownerUrl });
  await client.connect();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-bench-export-'));
  try {
    // The tenant: an instructor, the subject, one course; accessors are named (the heavier path).
    let t = performance.now();
    const em = ctx.owner.em.fork();
    const tenant = await createTenant(em, { name: 'Export benchmark', slug: 'export-bench' });
    const teacher = await createMember(ctx.owner.em.fork(), tenant.id, {
      email: 'teacher@export.bench', givenName: 'Ida', familyName: 'Teacher', role: UserRole.INSTRUCTOR,
    });
    const subject = await createMember(ctx.owner.em.fork(), tenant.id, {
      email: 'subject@export.bench', givenName: 'Sam', familyName: 'Subject', role: UserRole.STUDENT, studentNumber: 'S-1',
    });
    const course = await createCourseIn(ctx.owner.em.fork(), tenant.id, { code: 'BENCH-101', title: 'Benchmarking' });
    await enrollIn(ctx.owner.em.fork(), tenant.id, course.id, subject.id, CourseRole.STUDENT);
    await enrollIn(ctx.owner.em.fork(), tenant.id, course.id, teacher.id, CourseRole.INSTRUCTOR);
    await client.query(`insert into privacy_settings (tenant_id, show_accessor_names) values ($1, true)`, [tenant.id]);
    await client.query(
      `insert into post (id, tenant_id, course_id, author_id, body, created_at)
       select gen_random_uuid(), $1, $2, $3, 'Post ' || g || ': ' || repeat('A thought about the reading, with a question or two. ', 4),
              now() - interval '365 days' + g * interval '1 hour'
         from generate_series(1, $4::int) as g`, [tenant.id, course.id, subject.id, s.posts]);
    const { rows: keys } = await client.query<{ user_id: string; pseudonym: string }>(
      'select user_id, pseudonym from subject_key where tenant_id = $1', [tenant.id]);
    const pseudonymOf = (id: string) => keys.find((k) => k.user_id === id)!.pseudonym;
    const others = Array.from({ length: OTHER_PEOPLE }, () => randomUUID());
    const total = s.events + s.otherEvents;
    const step = `${(365 * 86_400) / Math.max(total, 1)} seconds`;
    for (let from = 0; from < total; from += EVENTS_PER_TRANSACTION) {
      ctx.checkInterrupted();
      const to = Math.min(from + EVENTS_PER_TRANSACTION, total) - 1;
      await client.query(INSERT_EVENTS, [tenant.id, pseudonymOf(teacher.id), randomUUID(), from, to, step, s.events, total,
        pseudonymOf(subject.id), `{${others.join(',')}}`]);
    }
    await client.query('analyze access_event, access_event_subject, post');
    const { rows: [counted] } = await client.query<{ n: string }>(
      'select count(*) as n from access_event_subject where tenant_id = $1 and pseudonym = $2', [tenant.id, pseudonymOf(subject.id)]);
    if (Number(counted.n) !== s.events) throw new Error(`seeded ${counted.n} events about the subject, expected ${s.events}`);
    const seedSeconds = (performance.now() - t) / 1000;
    ctx.say(`  export: seeded ${n0(s.posts)} posts and ${n0(s.events)} access events about one subject ` +
      `(+ ${n0(s.otherEvents)} about ${OTHER_PEOPLE} others, interleaved) in ${seedSeconds.toFixed(1)} s`);

    t = performance.now();
    for (;;) {
      ctx.checkInterrupted();
      const r = await sealOnce(ctx.owner, key, { batchSize: 20_000 });
      if (r.events === 0) {
        const { rows: [left] } = await client.query<{ n: string }>(
          'select count(*) as n from access_event e where not exists (select 1 from audit_leaf l where l.event_id = e.id)');
        if (Number(left.n) === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const sealSeconds = (performance.now() - t) / 1000;
    ctx.say(`  export: sealed ${n0(total)} events in ${sealSeconds.toFixed(1)} s`);

    // An approved ACCESS request and its job, as an administrator's approval leaves them.
    const requestId = randomUUID();
    const now = new Date();
    await client.query(
      `insert into data_subject_request (id, tenant_id, subject_id, type, status, filed_by, filed_at, due_at, decided_at, history,
                                         updated_at)
       values ($1, $2, $3, 'ACCESS', 'APPROVED', $3, $4, $4::timestamptz + interval '30 days', $4, $5::jsonb, $4)`,
      [requestId, tenant.id, subject.id, now.toISOString(), JSON.stringify([
        { status: 'SUBMITTED', at: now.toISOString(), by: 'SUBJECT' }, { status: 'APPROVED', at: now.toISOString(), by: 'ADMIN' },
      ])]);
    await enqueueJob(ctx.owner.em.fork(), { tenantId: tenant.id, kind: PROCESS_JOB, payload: { requestId } });
    // The job runs in a process of its own: this one has seeded and sealed, and its memory says nothing about the export.
    const worker = await runWorker(ctx.ownerUrl, pem);
    if (worker.summary.done !== 1) throw new Error(`the export job did not finish in one run: ${JSON.stringify(worker.summary)}`);
    const { wallSeconds, rssBeforeBytes } = worker;
    const peakRssBytes = Math.max(worker.peakRssBytes, worker.sampledPeakRssBytes);

    const { rows: [x] } = await client.query<{ bytes: string; chunks: number; events: number; status: string }>(
      `select x.bytes::text, x.chunks, x.events, r.status from data_export x join data_subject_request r on r.id = x.request_id
        where x.request_id = $1`, [requestId]);
    if (x?.status !== 'COMPLETED') throw new Error('the export request did not complete');
    if (x.events !== s.events) throw new Error(`the export lists ${x.events} events, expected ${s.events}`);
    const { rows: chunks } = await client.query<{ data: Buffer }>('select data from data_export_chunk where request_id = $1 order by seq',
      [requestId]);
    const file = path.join(dir, 'export.zip');
    writeFileSync(file, Buffer.concat(chunks.map((c) => c.data)));
    t = performance.now();
    const report = await verifyExportPackage(file, [key.publicKeyRaw]);
    const verifySeconds = (performance.now() - t) / 1000;
    if (!report.ok) {
      throw new Error(`the benchmark's export does not verify: ${report.failures.slice(0, 3).map((f) => f.message).join('; ')}`);
    }
    const manifest = await readManifest(file);

    const results: ExportResults = {
      settings: s, seedSeconds, sealSeconds, wallSeconds, peakRssBytes, rssBeforeBytes, zipBytes: Number(x.bytes), chunks: x.chunks,
      eventsListed: x.events, proofNodes: manifest.proofNodes, manifestBytes: manifest.bytes, verified: report.ok, verifySeconds,
    };
    ctx.say(`  export: one run of the export job: ${wallSeconds.toFixed(2)} s wall, peak RSS ${mb(peakRssBytes)} ` +
      `(${mb(rssBeforeBytes)} before); ZIP ${(results.zipBytes / 1024 / 1024).toFixed(1)} MB in ${x.chunks} chunks, ` +
      `${n0(x.events)} events listed and proven (multiproof of ${n0(manifest.proofNodes)} nodes, manifest.json ` +
      `${(manifest.bytes / 1024 / 1024).toFixed(1)} MB); verified offline in ${verifySeconds.toFixed(2)} s`);
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await client.end().catch(() => undefined);
  }
}
