import { existsSync, promises as fs } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import { keyIdOf, rawPublicKey } from '../../audit/checkpoint';
import { verifyExportPackage, type ExportVerifyFailure } from '../../modules/dsr/export/verify-package';
import { CliError, output, type CommonOptions } from '../runtime';
import { parseTrustedKey } from './audit';

/** Exit codes of `export verify`, one per root cause (see verify-package.ts for how it is chosen). */
export const EXPORT_VERIFY_EXIT_CODES: Record<ExportVerifyFailure, number> = {
  UNREADABLE_ARCHIVE: 20,
  BAD_MANIFEST: 21,
  UNKNOWN_KEY: 22,
  BAD_SIGNATURE: 23,
  BAD_CHECKPOINT_SIGNATURE: 24,
  BAD_PROOF: 25,
  MISSING_FILE: 26,
  EXTRA_FILE: 27,
  FILE_HASH_MISMATCH: 28,
  HISTORY_MISMATCH: 29,
};

const EXIT_HELP = `
Exit codes (the root cause when several checks fail; every failure is printed):
  0   the export verifies
  20  UNREADABLE_ARCHIVE        not a ZIP, corrupt, or unsafe (duplicate or path-traversal names, encrypted, a zip bomb)
  21  BAD_MANIFEST              manifest.json is not a valid custos.export-manifest.v1 manifest
  22  UNKNOWN_KEY               the manifest or its audit checkpoint is signed by a key not given with --public-key
  23  BAD_SIGNATURE             the manifest's signature does not verify: the manifest was changed after signing
  24  BAD_CHECKPOINT_SIGNATURE  the audit checkpoint's signature does not verify
  25  BAD_PROOF                 the listed access events are not proven to be in the checkpoint's tree
  26  MISSING_FILE              a file the manifest lists (or manifest.json itself) is not in the archive
  27  EXTRA_FILE                the archive holds a file the manifest does not list
  28  FILE_HASH_MISMATCH        a file's size or SHA-256 differs from the manifest: the file was altered
  29  HISTORY_MISMATCH          access-history.csv does not list exactly the manifest's events (each once)
  1   the verification could not run (file not found, bad --public-key); 2 usage error
Root-cause order: as listed, UNREADABLE_ARCHIVE first. Needs no database: only the file and the published key.`;

interface VerifyExportOptions extends CommonOptions {
  publicKey: string[];
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
const badInput = (message: string) => new CliError(message, 1, 'BAD_USER_INPUT');
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;

/**
 * A --public-key value: the raw Ed25519 key as 64 hex digits or in base64 (as `custos audit public-key`
 * prints it), or a file holding a PEM public or private key, DER SPKI, the JSON of
 * `custos audit public-key --json`, or the raw key in hex or base64.
 */
export async function publicKeyFromArgument(value: string): Promise<Buffer> {
  if (HEX_KEY.test(value) && !existsSync(value)) return Buffer.from(value, 'hex');
  if (BASE64_KEY.test(value) && !existsSync(value)) return Buffer.from(value, 'base64');
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw badInput(`--public-key ${value} is neither a raw key (64 hex digits or base64) nor a readable key file (${code}).`);
  }
  const text = bytes.toString('utf8').trim();
  if (HEX_KEY.test(text)) return Buffer.from(text, 'hex');
  if (BASE64_KEY.test(text)) return Buffer.from(text, 'base64');
  if (text.startsWith('-----') || text.startsWith('{')) return parseTrustedKey(text, value);
  try {
    const key = createPublicKey({ key: bytes, format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`it is a ${key.asymmetricKeyType} key, not Ed25519`);
    return rawPublicKey(key);
  } catch (err) {
    throw badInput(`The key file ${value} is not an Ed25519 public key (64 hex digits, PEM, DER SPKI, or the JSON of ` +
      `custos audit public-key --json): ${err instanceof Error ? err.message : String(err)}.`);
  }
}

const n0 = (n: number) => n.toLocaleString('en-US');

export function registerExport(program: Command): void {
  const exportCommand = program.command('export').description('Right-of-access export packages: verify a downloaded export offline.');

  exportCommand
    .command('verify')
    .description('Check a right-of-access export ZIP offline, with no database: every file\'s size and SHA-256 against the signed ' +
      'manifest, the manifest\'s and the audit checkpoint\'s Ed25519 signatures under the given public keys, the proof that ' +
      'each listed access event is in the sealed log, and that access-history.csv lists exactly those events.')
    .argument('<file>', 'the export ZIP')
    .requiredOption('--public-key <key-or-file>', 'a trusted public key, repeatable: the raw Ed25519 key (64 hex digits, or base64 as ' +
      '`custos audit public-key` prints it), or a file with a PEM/DER SPKI key or the JSON of `custos audit public-key --json`', collect)
    .option('--json', 'print one JSON object: {"ok", "rootCause", "exitCode", "failures", "manifest", "checkpoint", "files", "events", ' +
      '"historyRows", "trustedKeys"}')
    .addHelpText('after', EXIT_HELP)
    .action(async (file: string, opts: VerifyExportOptions) => {
      const keys: Buffer[] = [];
      for (const value of opts.publicKey) keys.push(await publicKeyFromArgument(value));
      let report;
      try {
        report = await verifyExportPackage(file, keys);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw badInput(`Cannot verify ${file}: ${code ? `${code}` : err instanceof Error ? err.message : String(err)}.`);
      }
      const exitCode = report.rootCause ? EXPORT_VERIFY_EXIT_CODES[report.rootCause] : 0;
      output(opts, { ...report, exitCode, trustedKeys: keys.map(keyIdOf) }, () => {
        const lines: string[] = [];
        const m = report.manifest, c = report.checkpoint;
        if (m) {
          const subject = m.subjectPseudonym ? `, subject ${m.subjectPseudonym}` : '';
          lines.push(`Export ${file}: request ${m.requestId}, tenant ${m.tenantId}${subject}, created ${m.createdAt}, ` +
            `signed by key ${m.keyId}`);
        }
        if (c) lines.push(`Audit checkpoint: tree size ${n0(c.treeSize)}, root ${c.root}, ${c.createdAt}, key ${c.keyId}`);
        for (const f of report.files) lines.push(`  ${f.matches ? 'ok    ' : 'FAILED'}  ${f.name} (${n0(f.bytes)} bytes)`);
        if (report.failures.length) {
          lines.push('', `${report.failures.length} failure${report.failures.length === 1 ? '' : 's'}, root cause first:`);
          for (const f of report.failures) lines.push(`  ${f.code.padEnd(24)} ${f.message}`);
          lines.push('', `Root cause: ${report.rootCause} (exit ${exitCode}).`);
        } else {
          lines.push('', `Verified: ${report.files.length} files match the signed manifest; ${n0(report.events)} access event` +
            `${report.events === 1 ? '' : 's'} proven in the signed audit log and listed in access-history.csv.`);
        }
        return lines.join('\n');
      });
      if (exitCode !== 0) process.exit(exitCode);
    });
}
