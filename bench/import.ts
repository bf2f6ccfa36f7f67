// The OneRoster import benchmark: a generated set (orgs, courses, classes, users, enrollments) imported
// into an empty tenant by a process of its own, as `custos import oneroster` would, timed and measured.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createTenant } from '../src/modules/tenant/tenant.service';
import { envNumber, mb } from './support';
import type { ImportWorkerResult } from './import-worker';

export const IMPORT_TARGETS = {
  /** The import of the generated set, end to end (reading, checking, writing, logging), in seconds. */
  wallSeconds: 60,
};

export interface ImportSettings {
  users: number;
  enrollments: number;
  classes: number;
}

export function readImportSettings(): ImportSettings {
  return {
    users: envNumber('BENCH_IMPORT_USERS', 10_000, { integer: true }),
    enrollments: envNumber('BENCH_IMPORT_ENROLLMENTS', 50_000, { integer: true }),
    classes: envNumber('BENCH_IMPORT_CLASSES', 500, { integer: true }),
  };
}

export interface ImportResults {
  settings: ImportSettings;
  fileBytes: number;
  first: ImportWorkerResult;
  again: ImportWorkerResult;
}

export interface ImportContext {
  owner: MikroORM;
  ownerUrl: string;
  settings: ImportSettings;
  say: (line?: string) => void;
}

const n0 = (n: number) => Math.round(n).toLocaleString('en-US');

/** Writes the set: 4% teachers, 1% administrators, the rest students; each class has one teacher, students fill the enrollments. */
async function writeSet(dir: string, s: ImportSettings): Promise<number> {
  let bytes = 0;
  const write = async (name: string, header: string, rows: Iterable<string>) => {
    const out = createWriteStream(path.join(dir, name));
    for (const line of [header, ...rows]) {
      bytes += line.length + 1;
      if (!out.write(`${line}\n`)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  };
  writeFileSync(path.join(dir, 'manifest.csv'), ['propertyName,value', 'manifest.version,1.0', 'oneroster.version,1.1',
    ...['academicSessions', 'demographics'].map((f) => `file.${f},absent`),
    ...['orgs', 'users', 'courses', 'classes', 'enrollments'].map((f) => `file.${f},bulk`)].join('\n'));
  await write('orgs.csv', 'sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId',
    ['D1,,,Bench District,district,,', 'S1,,,Bench High School,school,,D1']);
  const courses = Math.max(1, Math.floor(s.classes / 5));
  await write('courses.csv', 'sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes',
    (function* () { for (let c = 0; c < courses; c++) yield `C${c},,,,Course ${c},CRS-${c},09,S1,,`; })());
  await write('classes.csv',
    'sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods',
    (function* () { for (let k = 0; k < s.classes; k++) yield `K${k},,,Section ${k},09,C${k % courses},CLS-${k},scheduled,,S1,"T1,T2",,,1`; })());
  const teachers = Math.max(s.classes > 0 ? 1 : 0, Math.floor(s.users * 0.04));
  const admins = Math.floor(s.users * 0.01);
  const students = s.users - teachers - admins;
  const role = (u: number) => (u < teachers ? 'teacher' : u < teachers + admins ? 'administrator' : 'student');
  await write('users.csv',
    'sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password',
    (function* () {
      for (let u = 0; u < s.users; u++) {
        yield `U${u},,,true,S1,${role(u)},user${u},{Local:${u}},Given${u},Family${u},,ID${u},user${u}@bench.example,,,,09,`;
      }
    })());
  await write('enrollments.csv', 'sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate',
    (function* () {
      for (let k = 0; k < s.classes && k < s.enrollments; k++) yield `E-T${k},,,K${k},S1,U${k % teachers},teacher,true,2025-09-01,2026-06-30`;
      // Each student is enrolled in distinct classes: student i, slot j → class (i·7 + j·31) mod classes.
      const perStudent = Math.ceil(Math.max(0, s.enrollments - s.classes) / Math.max(students, 1));
      let n = Math.min(s.classes, s.enrollments);
      for (let j = 0; j < perStudent && n < s.enrollments; j++) {
        for (let i = 0; i < students && n < s.enrollments; i++, n++) {
          yield `E-${i}-${j},,,K${(i * 7 + j * 31) % s.classes},S1,U${teachers + admins + i},student,false,2025-09-01,2026-06-30`;
        }
      }
    })());
  return bytes;
}

function runWorker(databaseUrl: string, tenantId: string, dir: string): Promise<ImportWorkerResult> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'import-worker.js'), [], {
      execArgv: [], stdio: 'inherit',
      env: { ...process.env, IMPORT_BENCH_DATABASE_URL: databaseUrl, IMPORT_BENCH_TENANT: tenantId, IMPORT_BENCH_DIR: dir },
    });
    let answered = false;
    child.once('message', (m: { ok: true; result: ImportWorkerResult } | { ok: false; error: string }) => {
      answered = true;
      if (m.ok) resolve(m.result);
      else reject(new Error(`the import worker failed: ${m.error}`));
    });
    child.once('error', reject);
    child.once('exit', (code) => { if (!answered) reject(new Error(`the import worker exited with code ${code} without an answer`)); });
  });
}

export async function runImportBench(ctx: ImportContext): Promise<ImportResults> {
  const s = ctx.settings;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-bench-import-'));
  try {
    const fileBytes = await writeSet(dir, s);
    const tenant = await createTenant(ctx.owner.em.fork(), { name: 'Import benchmark', slug: 'import-bench' });
    const first = await runWorker(ctx.ownerUrl, tenant.id, dir);
    const created = first.diff.users.created + first.diff.enrollments.created;
    if (first.errorCount > 0 || !first.applied) throw new Error(`the generated set did not import cleanly: ${first.errorCount} errors`);
    ctx.say(`  import: ${n0(s.users)} users, ${n0(s.classes)} classes, ${n0(s.enrollments)} enrollment rows (${(fileBytes / 1024 / 1024).toFixed(1)} MB ` +
      `of CSV): ${first.wallSeconds.toFixed(2)} s wall, peak RSS ${mb(first.peakRssBytes)} (${mb(first.rssBeforeBytes)} before); ` +
      `${n0(first.diff.users.created)} members and ${n0(first.diff.enrollments.created)} enrollments created (${n0(created)} records)`);
    const again = await runWorker(ctx.ownerUrl, tenant.id, dir);
    const changed = Object.values(again.diff).reduce((n, d) => n + d.created + d.updated + d.deactivated, 0);
    if (changed !== 0) throw new Error(`importing the same set again changed ${changed} records`);
    ctx.say(`  import: the same set again (no changes): ${again.wallSeconds.toFixed(2)} s wall, peak RSS ${mb(again.peakRssBytes)}`);
    return { settings: s, fileBytes, first, again };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
