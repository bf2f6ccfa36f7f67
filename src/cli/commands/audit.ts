import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import type { MikroORM } from '@mikro-orm/postgresql';
import { loadConfig, type Config } from '../../config/config';
import { KEY_FILE, loadSigningKey } from '../../audit/signing-key';
import { keyIdOf, rawPublicKey, type Checkpoint, type SigningKey } from '../../audit/checkpoint';
import { checkpointFromRow, sealOnce } from '../../audit/sealer';
import {
  checkpointFromJson, checkpointToJson, rootCause, verifyAuditLog, type VerifyFailure, type VerifyReport,
} from '../../audit/verify';
import { Tenant } from '../../modules/tenant/tenant.entity';
import { recordVerification } from '../../modules/report/verification';
import { CliError, findTenant, output, wholeNumber, withDatabase, type CommonOptions } from '../runtime';

/** Exit codes of `audit verify`, one per root cause (see verify.ts for how the root cause is chosen). */
export const VERIFY_EXIT_CODES: Record<VerifyFailure, number> = {
  EDITED_EVENT: 10,
  DELETED_EVENT: 11,
  FORGED_EVENT: 12,
  BROKEN_CHAIN: 13,
  BAD_SIGNATURE: 14,
  UNKNOWN_KEY: 15,
  UNSEALED_BACKLOG: 16,
  ROLLBACK: 17,
};

const EXIT_HELP = `
Exit codes (the root cause when several checks fail; every failure is printed):
  0   everything verifies
  10  EDITED_EVENT      an event or its subjects changed after sealing (or its leaf hashes were rewritten to hide it)
  11  DELETED_EVENT     a sealed event or leaf is gone, or the tree is shorter than its checkpoints
  12  FORGED_EVENT      an event slipped into sealed history, or a leaf no checkpoint covers
  13  BROKEN_CHAIN      a checkpoint missing from the chain, stored tree nodes altered or missing, or the seal watermark moved back
  14  BAD_SIGNATURE     a checkpoint does not verify under the trusted key it names
  15  UNKNOWN_KEY       a checkpoint signed by a key that is not trusted (keys listed only in the database are not)
  16  UNSEALED_BACKLOG  committed events older than --max-unsealed-age are still unsealed
  17  ROLLBACK          the log no longer contains the --trusted-checkpoint (smaller tree, or another root at its size)
  1   the verification could not run (bad file, unknown tenant, database unreachable); 2 usage error
Root-cause order: ROLLBACK, UNKNOWN_KEY, BAD_SIGNATURE, DELETED_EVENT, FORGED_EVENT, EDITED_EVENT, BROKEN_CHAIN, UNSEALED_BACKLOG.`;

interface VerifyCliOptions extends CommonOptions {
  tenant?: string;
  trustedCheckpoint?: string;
  trustedKey?: string[];
  maxUnsealedAge: number;
}
interface TenantOption extends CommonOptions { tenant: string }

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
const badInput = (message: string) => new CliError(message, 1, 'BAD_USER_INPUT');

async function readFileOrFail(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw badInput(`Cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}.`);
  }
}

/** A trusted key file: a PEM Ed25519 public or private key, or the JSON `custos audit public-key --json` prints. */
export function parseTrustedKey(text: string, file: string): Buffer {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('{')) {
      const o = JSON.parse(trimmed) as { publicKey?: unknown; pem?: unknown; keyId?: unknown };
      let raw: Buffer | null = null;
      if (typeof o.publicKey === 'string') raw = Buffer.from(o.publicKey, 'base64');
      else if (typeof o.pem === 'string') return parseTrustedKey(o.pem, file);
      if (!raw || raw.length !== 32) throw new Error('expected "publicKey": the raw 32-byte Ed25519 key in base64');
      if (typeof o.keyId === 'string' && o.keyId !== keyIdOf(raw)) throw new Error(`its keyId ${o.keyId} does not match its publicKey`);
      return raw;
    }
    const key = /PRIVATE KEY/.test(trimmed) ? createPublicKey(createPrivateKey(trimmed)) : createPublicKey(trimmed);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`it is a ${key.asymmetricKeyType} key, not Ed25519`);
    return rawPublicKey(key);
  } catch (err) {
    throw badInput(`The trusted key file ${file} is not an Ed25519 key (PEM, or the JSON of custos audit public-key --json): ` +
      `${err instanceof Error ? err.message : String(err)}.`);
  }
}

/** The installation's signing key, if it exists (never created here). */
async function installationKey(config: Config): Promise<SigningKey | null> {
  if (!config.auditSigningKeyFile && !existsSync(path.join(config.dataDir, KEY_FILE))) return null;
  return loadSigningKey({ keyFile: config.auditSigningKeyFile, dataDir: config.dataDir });
}

async function latestCheckpoint(owner: MikroORM, tenantId: string): Promise<Checkpoint | null> {
  const [row] = await owner.em.fork().getConnection().execute(
    'select * from audit_checkpoint where tenant_id = ? order by tree_size desc limit 1', [tenantId]);
  return row ? checkpointFromRow(row as never) : null;
}

const n0 = (n: number) => Math.round(n).toLocaleString('en-US');

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('The sealed access log: verify it, save a checkpoint, seal now, show the signing key.');

  audit
    .command('verify')
    .description('Recompute the access log from the database (every event\'s leaf hash, every tree node, every checkpoint\'s ' +
      'signature, chain and root) and name exactly what is wrong. Checkpoints are trusted only when signed by a --trusted-key ' +
      'or by this installation\'s own signing key; keys listed in the database are not trusted.')
    .option('--tenant <slug>', 'only this tenant (default: every tenant)')
    .option('--trusted-checkpoint <file>', 'a checkpoint saved earlier with `custos audit checkpoint`: the log must still contain it')
    .option('--trusted-key <file>', 'a trusted public key, repeatable: PEM (public or private) or the JSON of `custos audit public-key --json`', collect)
    .option('--max-unsealed-age <seconds>', 'committed events unsealed for longer are a backlog',
      wholeNumber('--max-unsealed-age', 0, 10 * 365 * 86_400), 300)
    .option('--json', 'print one JSON object: {"ok", "rootCause", "exitCode", "failures", "tenants", "events", "ms", "eventsPerSecond"}')
    .addHelpText('after', EXIT_HELP)
    .action(async (opts: VerifyCliOptions) => {
      const config = loadConfig();
      const trustedKeys: Buffer[] = [];
      for (const file of opts.trustedKey ?? []) trustedKeys.push(parseTrustedKey(await readFileOrFail(file, 'trusted key file'), file));
      const own = await installationKey(config).catch((err) => {
        throw badInput(`Cannot read this installation's signing key: ${err instanceof Error ? err.message : String(err)}`);
      });
      if (own) trustedKeys.push(own.publicKeyRaw);
      let trustedCheckpoint: Checkpoint | undefined;
      if (opts.trustedCheckpoint) {
        const text = await readFileOrFail(opts.trustedCheckpoint, 'trusted checkpoint');
        try {
          trustedCheckpoint = checkpointFromJson(JSON.parse(text));
        } catch (err) {
          throw badInput(`The trusted checkpoint ${opts.trustedCheckpoint} is not a checkpoint saved with custos audit checkpoint: ` +
            `${err instanceof Error ? err.message : String(err)}.`);
        }
      }
      const { report, slugs } = await withDatabase({ migrate: false }, async ({ db, em }) => {
        const tenant = opts.tenant ? await findTenant(em, opts.tenant) : null;
        const all = await em.find(Tenant, {}, { fields: ['id', 'slug'] });
        let result: VerifyReport;
        try {
          result = await verifyAuditLog(db.owner, {
            tenantIds: tenant ? [tenant.id] : undefined, trustedKeys, trustedCheckpoint, maxUnsealedAgeMs: opts.maxUnsealedAge * 1000,
          });
        } catch (err) {
          if (err instanceof Error && /trusted checkpoint/.test(err.message)) throw badInput(`${err.message}.`);
          throw err;
        }
        // Kept for the chain status report: when the log was last verified, and what was found.
        await recordVerification(db.owner.em.fork(), result, trustedKeys.map(keyIdOf), new Date());
        return { report: result, slugs: new Map(all.map((t) => [t.id, t.slug])) };
      });
      const cause = rootCause(report);
      const exitCode = cause ? VERIFY_EXIT_CODES[cause] : 0;
      const perSecond = report.ms > 0 ? (report.events / report.ms) * 1000 : report.events;
      const name = (id: string | null) => (id ? slugs.get(id) ?? id : '-');
      output(opts, {
        ok: report.ok, rootCause: cause, exitCode,
        failures: report.failures.map((f) => ({ ...f, tenant: f.tenantId ? slugs.get(f.tenantId) ?? null : null })),
        tenants: report.tenants.map((t) => ({ ...t, slug: slugs.get(t.tenantId) ?? null })),
        events: report.events, ms: report.ms, eventsPerSecond: Math.round(perSecond), trustedKeys: trustedKeys.map(keyIdOf),
      }, () => {
        const lines: string[] = [];
        const failed = new Set(report.failures.map((f) => f.tenantId));
        for (const t of report.tenants) {
          lines.push(`${failed.has(t.tenantId) ? 'FAILED' : 'ok    '}  ${name(t.tenantId)}: tree size ${n0(t.treeSize)}, ` +
            `${n0(t.checkpoints)} checkpoint${t.checkpoints === 1 ? '' : 's'}, ${n0(perSecond)} events/s`);
        }
        if (report.failures.length) {
          lines.push('', `${report.failures.length} failure${report.failures.length === 1 ? '' : 's'}, root cause first:`);
          for (const f of report.failures) lines.push(`  ${f.code.padEnd(16)} ${f.message}`);
          lines.push('', `Root cause: ${cause} (exit ${exitCode}).`);
        } else {
          lines.push('', `Verified ${n0(report.events)} events in ${n0(report.ms)} ms (${n0(perSecond)} events/s): the access log is intact.`);
        }
        if (trustedKeys.length === 0) lines.push('No trusted key: pass --trusted-key, or run this where the installation\'s signing key is.');
        return lines.join('\n');
      });
      // The database is closed by now; exit with the root cause's code (main would exit 0).
      if (exitCode !== 0) process.exit(exitCode);
    });

  audit
    .command('checkpoint')
    .description('Print a tenant\'s latest signed checkpoint as JSON (every field, hex/base64). Save it: passed later as ' +
      '--trusted-checkpoint, it proves the log was not rolled back or rewritten since.')
    .requiredOption('--tenant <slug>', 'the tenant\'s slug')
    .option('--json', 'print the checkpoint on one line (the same object)')
    .action(async (opts: TenantOption) => {
      await withDatabase({ migrate: false }, async ({ db, em }) => {
        const tenant = await findTenant(em, opts.tenant);
        const latest = await latestCheckpoint(db.owner, tenant.id);
        if (!latest) {
          throw new CliError(`Tenant "${tenant.slug}" has no checkpoint yet: nothing of its access log is sealed (see custos audit seal).`, 1, 'NOT_FOUND');
        }
        const json = { ...checkpointToJson(latest), tenantSlug: tenant.slug };
        process.stdout.write(`${opts.json ? JSON.stringify(json) : JSON.stringify(json, null, 2)}\n`);
      });
    });

  audit
    .command('seal')
    .description('Run one sealing round now with this installation\'s signing key (the server does this every ' +
      'CUSTOS_SEAL_INTERVAL_MS): committed events go into their tenants\' trees under new signed checkpoints.')
    .option('--json', 'print one JSON object: {"leader", "events", "checkpoints": [{"tenant", "treeSize", "root"}], "keyId"}')
    .action(async (opts: CommonOptions) => {
      await withDatabase({ migrate: true }, async ({ db, em, config }) => {
        const key = await loadSigningKey({ keyFile: config.auditSigningKeyFile, dataDir: config.dataDir });
        const result = await sealOnce(db.owner, key);
        const tenants = await em.find(Tenant, { id: { $in: result.checkpoints.map((c) => c.tenantId) } }, { fields: ['id', 'slug'] });
        const slug = new Map(tenants.map((t) => [t.id, t.slug]));
        const checkpoints = result.checkpoints.map((c) => ({ tenant: slug.get(c.tenantId) ?? c.tenantId, treeSize: c.treeSize, root: c.root.toString('hex') }));
        output(opts, { leader: result.leader, events: result.events, checkpoints, keyId: key.keyId }, () => {
          if (!result.leader) return 'Another sealer (a running server) holds the sealing lock: it is sealing right now; nothing done.';
          if (result.events === 0) return 'Nothing to seal: every committed event below the sealing horizon is sealed.';
          return [`Sealed ${n0(result.events)} event${result.events === 1 ? '' : 's'} with key ${key.keyId}:`,
            ...checkpoints.map((c) => `  ${c.tenant}: tree size ${n0(c.treeSize)}, root ${c.root}`)].join('\n');
        });
      });
    });

  audit
    .command('public-key')
    .description('Print this installation\'s checkpoint signing key\'s public half (key id, raw base64, PEM), for auditors ' +
      'to pass to `custos audit verify --trusted-key`. Creates the key in the data folder if there is none yet, as the server does.')
    .option('--json', 'print one JSON object: {"keyId", "publicKey", "pem"} (a file --trusted-key accepts)')
    .action(async (opts: CommonOptions) => {
      const config = loadConfig();
      const key = await loadSigningKey({ keyFile: config.auditSigningKeyFile, dataDir: config.dataDir });
      const pem = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      output(opts, { keyId: key.keyId, publicKey: key.publicKeyRaw.toString('base64'), pem }, () =>
        [`Key id:     ${key.keyId}`, `Public key: ${key.publicKeyRaw.toString('base64')} (raw Ed25519, base64)`, '', pem.trimEnd()].join('\n'));
    });
}
