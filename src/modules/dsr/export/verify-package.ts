/**
 * `verifyExportPackage`: checks a downloaded right-of-access export offline, with nothing but the file
 * and the installation's published public key(s). See package.ts for the format and the signed bytes.
 *
 * Checks: the archive is a sane ZIP (no duplicate, absolute or `..` names, no encryption, only stored or
 * DEFLATE entries, bounded entry count and declared sizes — every entry's real size is held to its
 * declared size while inflating, so a zip bomb cannot outgrow the limits); manifest.json parses and
 * has the v1 shape; its signature verifies under a trusted key with the key id it names; the audit
 * checkpoint's own signature verifies under a trusted key; the multiproof puts every listed leaf into
 * the checkpoint's tree; every file is present with the size and SHA-256 the manifest gives, and no
 * other file is; access-history.csv lists exactly the manifest's events. Files are hashed as streams,
 * so memory is bounded by the manifest (which is read whole, up to `maxManifestBytes`).
 *
 * What it proves: the installation holding the key signed this manifest, and its signed log contains
 * these leaf hashes at these positions. That a leaf hash is the hash of the event the CSV row describes
 * rests on the same signature (the event's full leaf bytes are not in the export).
 *
 * Root causes. Independent failures are all reported, ordered by EXPORT_FAILURE_PRECEDENCE; the first
 * is the root cause:
 *   UNREADABLE_ARCHIVE > BAD_MANIFEST > UNKNOWN_KEY > BAD_SIGNATURE > BAD_CHECKPOINT_SIGNATURE > BAD_PROOF
 *   > MISSING_FILE > EXTRA_FILE > FILE_HASH_MISMATCH > HISTORY_MISMATCH
 * Trust comes first: while the manifest is unreadable, unsigned or signed by an unknown key, nothing it
 * says about the files can be relied on, and one edit of the manifest breaks its signature whatever else
 * it changed. Then the log's evidence, then the files against the signed manifest. A file edit that
 * also breaks the history (a CSV row removed) is a FILE_HASH_MISMATCH first: the hash names the altered
 * file; the history failures that follow from it are still listed. An unreadable archive or manifest
 * stops the checks (there is nothing to check against); a missing or unreadable file skips only its own.
 *
 * Throws only when it cannot run: the file cannot be opened (missing, a folder, no permission) or a
 * trusted key is not 32 bytes. Everything wrong with the file's content is a failure in the report.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash, verify } from 'node:crypto';
import { openPromise, type Entry, type ZipFile } from 'yauzl';
import { verifyMultiProof } from '../../../audit/multiproof';
import { checkpointHash, keyIdOf, publicKeyFromRaw, verifyCheckpointSignature, type Checkpoint } from '../../../audit/checkpoint';
import { checkpointFromJson } from '../../../audit/verify';
import {
  EXPORT_MANIFEST_FORMAT, HISTORY_FILE, HistoryCsvCheck, isExportFileName, manifestSignedBytes, MANIFEST_FILE, MAX_EVENT_ID_LENGTH,
  type ExportManifest,
} from './package';

export type ExportVerifyFailure =
  | 'UNREADABLE_ARCHIVE' | 'BAD_MANIFEST' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE' | 'BAD_CHECKPOINT_SIGNATURE' | 'BAD_PROOF'
  | 'MISSING_FILE' | 'EXTRA_FILE' | 'FILE_HASH_MISMATCH' | 'HISTORY_MISMATCH';

/** Root cause first (see the file comment). */
export const EXPORT_FAILURE_PRECEDENCE: readonly ExportVerifyFailure[] = [
  'UNREADABLE_ARCHIVE', 'BAD_MANIFEST', 'UNKNOWN_KEY', 'BAD_SIGNATURE', 'BAD_CHECKPOINT_SIGNATURE', 'BAD_PROOF',
  'MISSING_FILE', 'EXTRA_FILE', 'FILE_HASH_MISMATCH', 'HISTORY_MISMATCH',
];

export interface ExportVerifyIssue {
  code: ExportVerifyFailure;
  message: string;
  /** The archive entry concerned, if any. */
  file?: string;
  /** 1-based line of access-history.csv, for history failures on a row. */
  line?: number;
  eventId?: string;
}

export interface ExportVerifyReport {
  ok: boolean;
  rootCause: ExportVerifyFailure | null;
  /** Every failure, root cause first (at most `maxIssuesPerCode` per code, then a count of the rest). */
  failures: ExportVerifyIssue[];
  /** What the manifest says, once it parsed (trusted only if there is no UNKNOWN_KEY / BAD_SIGNATURE failure). */
  manifest: { tenantId: string; subjectPseudonym: string | null; requestId: string; createdAt: string; keyId: string } | null;
  checkpoint: { tenantId: string; treeSize: number; root: string; createdAt: string; keyId: string } | null;
  /** The files the manifest lists that could be read, as recomputed from the archive. */
  files: { name: string; bytes: number; sha256: string; matches: boolean }[];
  /** Access events (leaves) the manifest lists. */
  events: number;
  /** Rows of access-history.csv (header excluded), when it was read. */
  historyRows: number | null;
}

export interface ExportVerifyOptions {
  /** Most archive entries accepted (default 64; a package has a handful). */
  maxEntries?: number;
  /** Most uncompressed bytes all entries may declare together (default 8 GiB). */
  maxTotalBytes?: number;
  /** Largest manifest.json read into memory (default 256 MiB; ~50,000 events take ~30 MB). */
  maxManifestBytes?: number;
  /** Failures listed per code before the rest are only counted (default 20). */
  maxIssuesPerCode?: number;
}

const DEFAULTS: Required<ExportVerifyOptions> = {
  maxEntries: 64, maxTotalBytes: 8 * 1024 ** 3, maxManifestBytes: 256 * 1024 ** 2, maxIssuesPerCode: 20,
};

/** A name as it may be printed: control and other invisible characters escaped. */
const shown = (name: string) => JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name).slice(1, -1);
const n0 = (n: number) => n.toLocaleString('en-US');
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

class Issues {
  private readonly byCode = new Map<ExportVerifyFailure, ExportVerifyIssue[]>();
  private readonly dropped = new Map<ExportVerifyFailure, number>();

  constructor(private readonly perCode: number) {}

  add(code: ExportVerifyFailure, message: string, extra: Omit<ExportVerifyIssue, 'code' | 'message'> = {}): void {
    const list = this.byCode.get(code) ?? [];
    this.byCode.set(code, list);
    if (list.length < this.perCode) list.push({ code, message, ...extra });
    else this.dropped.set(code, (this.dropped.get(code) ?? 0) + 1);
  }

  has(code: ExportVerifyFailure): boolean {
    return (this.byCode.get(code)?.length ?? 0) > 0;
  }

  sorted(): ExportVerifyIssue[] {
    return EXPORT_FAILURE_PRECEDENCE.flatMap((code) => {
      const list = this.byCode.get(code) ?? [];
      const more = this.dropped.get(code);
      return more ? [...list, { code, message: `… and ${n0(more)} more ${code} failure${more === 1 ? '' : 's'}` }] : list;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Manifest shape
// ---------------------------------------------------------------------------------------------

const HEX64 = /^[0-9a-f]{64}$/;
const SIGNATURE_B64 = /^[A-Za-z0-9+/]{86}==$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface ParsedManifest {
  manifest: ExportManifest;
  checkpoint: Checkpoint;
  signedBytes: Buffer;
}

/** Checks the v1 shape; returns the problem as a message. Unknown members are refused: v1 is closed. */
function parseManifest(value: unknown): ParsedManifest | string {
  const only = (where: string, o: Record<string, unknown>, allowed: string[]) => {
    const extra = Object.keys(o).find((k) => !allowed.includes(k));
    if (extra !== undefined) throw new Error(`${where} has an unknown member "${shown(extra)}"`);
  };
  const need = (ok: boolean, what: string) => { if (!ok) throw new Error(what); };
  try {
    need(isObject(value), 'it is not a JSON object');
    const m = value as Record<string, unknown>;
    only('the manifest', m, ['format', 'tenantId', 'subjectPseudonym', 'requestId', 'createdAt', 'files', 'audit', 'keyId', 'signature']);
    need(m.format === EXPORT_MANIFEST_FORMAT, `"format" is not ${EXPORT_MANIFEST_FORMAT}`);
    need(typeof m.tenantId === 'string' && m.tenantId !== '', '"tenantId" is missing');
    need(m.subjectPseudonym === undefined || typeof m.subjectPseudonym === 'string', '"subjectPseudonym" is not a string');
    need(typeof m.requestId === 'string' && m.requestId !== '', '"requestId" is missing');
    need(typeof m.createdAt === 'string' && !Number.isNaN(Date.parse(m.createdAt)) && new Date(m.createdAt).toISOString() === m.createdAt,
      '"createdAt" is not an ISO 8601 UTC timestamp');
    need(typeof m.keyId === 'string' && /^[0-9a-f]{32}$/.test(m.keyId), '"keyId" is not 32 hex digits');
    need(typeof m.signature === 'string' && SIGNATURE_B64.test(m.signature), '"signature" is not a base64 Ed25519 signature');

    need(Array.isArray(m.files), '"files" is not a list');
    const names = new Set<string>();
    (m.files as unknown[]).forEach((f, i) => {
      need(isObject(f), `files[${i}] is not an object`);
      const file = f as Record<string, unknown>;
      only(`files[${i}]`, file, ['name', 'bytes', 'sha256']);
      need(isExportFileName(file.name) && file.name !== MANIFEST_FILE, `files[${i}] has no valid name`);
      need(!names.has(file.name as string), `files lists ${file.name as string} twice`);
      names.add(file.name as string);
      need(typeof file.bytes === 'number' && Number.isSafeInteger(file.bytes) && file.bytes >= 0, `files[${i}].bytes is not a byte count`);
      need(typeof file.sha256 === 'string' && HEX64.test(file.sha256), `files[${i}].sha256 is not 64 lowercase hex digits`);
    });
    need(names.has(HISTORY_FILE), `"files" does not list ${HISTORY_FILE}`);

    need(isObject(m.audit), '"audit" is not an object');
    const audit = m.audit as Record<string, unknown>;
    only('"audit"', audit, ['checkpoint', 'leaves', 'proof']);
    need(isObject(audit.checkpoint), '"audit.checkpoint" is not an object');
    const cp = audit.checkpoint as Record<string, unknown>;
    only('"audit.checkpoint"', cp, ['format', 'tenantId', 'treeSize', 'root', 'createdAt', 'previousHash', 'keyId', 'signature', 'hash']);
    need(cp.format === 'custos.checkpoint.v1', '"audit.checkpoint.format" is not custos.checkpoint.v1');
    let checkpoint: Checkpoint;
    try {
      checkpoint = checkpointFromJson(cp);
    } catch (err) {
      throw new Error(`"audit.checkpoint": ${errorText(err)}`);
    }
    need(typeof cp.hash === 'string' && cp.hash === checkpointHash(checkpoint).toString('hex'),
      '"audit.checkpoint.hash" is not the hash of the checkpoint it accompanies');

    need(Array.isArray(audit.leaves), '"audit.leaves" is not a list');
    const ids = new Set<string>();
    (audit.leaves as unknown[]).forEach((l, i) => {
      need(isObject(l), `audit.leaves[${i}] is not an object`);
      const leaf = l as Record<string, unknown>;
      only(`audit.leaves[${i}]`, leaf, ['eventId', 'leafIndex', 'leafHash']);
      need(typeof leaf.eventId === 'string' && leaf.eventId !== '' && leaf.eventId.length <= MAX_EVENT_ID_LENGTH,
        `audit.leaves[${i}].eventId is missing or too long`);
      need(!ids.has(leaf.eventId as string), `event ${shown(leaf.eventId as string)} is listed twice in audit.leaves`);
      ids.add(leaf.eventId as string);
      need(typeof leaf.leafIndex === 'number' && Number.isSafeInteger(leaf.leafIndex) && leaf.leafIndex >= 0,
        `audit.leaves[${i}].leafIndex is not a leaf index`);
      need(typeof leaf.leafHash === 'string' && HEX64.test(leaf.leafHash), `audit.leaves[${i}].leafHash is not 64 lowercase hex digits`);
    });
    need(Array.isArray(audit.proof) && (audit.proof as unknown[]).every((h) => typeof h === 'string' && HEX64.test(h)),
      '"audit.proof" is not a list of 64-hex-digit hashes');

    let signedBytes: Buffer;
    try {
      signedBytes = manifestSignedBytes(m);
    } catch (err) {
      throw new Error(`it has no canonical form: ${errorText(err)}`);
    }
    return { manifest: m as unknown as ExportManifest, checkpoint, signedBytes };
  } catch (err) {
    return errorText(err);
  }
}

// ---------------------------------------------------------------------------------------------
// Archive
// ---------------------------------------------------------------------------------------------

type Limits = Required<ExportVerifyOptions>;

/** The entries by name, or null (with an UNREADABLE_ARCHIVE failure) when the archive is corrupt or unsafe. */
async function listEntries(zip: ZipFile, issues: Issues, limits: Limits): Promise<Map<string, Entry> | null> {
  const unreadable = (message: string) => { issues.add('UNREADABLE_ARCHIVE', message); return null; };
  if (zip.entryCount > limits.maxEntries) {
    return unreadable(`the archive has ${n0(zip.entryCount)} entries; an export has at most ${limits.maxEntries}`);
  }
  const entries = new Map<string, Entry>();
  let declared = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (entries.has(name)) return unreadable(`the archive has two entries named ${shown(name)}: which one is meant is ambiguous`);
      if (entry.isEncrypted()) return unreadable(`${shown(name)} is encrypted`);
      if (!entry.canDecodeFileData()) {
        return unreadable(`${shown(name)} uses compression method ${entry.compressionMethod} (only stored and DEFLATE are read)`);
      }
      declared += entry.uncompressedSize;
      if (declared > limits.maxTotalBytes) {
        return unreadable(`the entries declare more than ${n0(limits.maxTotalBytes)} uncompressed bytes (a zip bomb, or not an export)`);
      }
      entries.set(name, entry);
    }
  } catch (err) {
    // yauzl refuses absolute, `..` and backslash names here, and a corrupt central directory.
    return unreadable(`the archive's directory is corrupt or unsafe: ${errorText(err)}`);
  }
  return entries;
}

/** Streams one entry's data to `sink`; yauzl fails the stream if the data outgrow the declared size. */
async function readEntry(zip: ZipFile, entry: Entry, sink: (chunk: Buffer) => void): Promise<void> {
  const stream = await zip.openReadStreamPromise(entry);
  for await (const chunk of stream) sink(chunk as Buffer);
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

export async function verifyExportPackage(file: string, trustedPublicKeys: Buffer[], options: ExportVerifyOptions = {}):
  Promise<ExportVerifyReport> {
  const limits: Limits = { ...DEFAULTS, ...options };
  const trusted = new Map<string, Buffer>();
  for (const key of trustedPublicKeys) {
    if (!Buffer.isBuffer(key) || key.length !== 32) throw new TypeError('trusted keys must be raw 32-byte Ed25519 public keys');
    trusted.set(keyIdOf(key), key);
  }
  const stat = await fs.stat(file); // missing or unreadable: the verification cannot run
  if (!stat.isFile()) throw new Error(`${file} is not a file`);

  const issues = new Issues(limits.maxIssuesPerCode);
  const report: ExportVerifyReport = {
    ok: false, rootCause: null, failures: [], manifest: null, checkpoint: null, files: [], events: 0, historyRows: null,
  };
  const finish = () => {
    report.failures = issues.sorted();
    report.rootCause = report.failures[0]?.code ?? null;
    report.ok = report.failures.length === 0;
    return report;
  };

  let zip: ZipFile;
  try {
    zip = await openPromise(file, {
      autoClose: false, lazyEntries: true, decodeStrings: true, strictFileNames: true, validateEntrySizes: true,
    });
  } catch (err) {
    issues.add('UNREADABLE_ARCHIVE', `${path.basename(file)} is not a readable ZIP archive: ${errorText(err)}`);
    return finish();
  }
  try {
    const entries = await listEntries(zip, issues, limits);
    if (!entries) return finish();

    // 1. The manifest.
    const manifestEntry = entries.get(MANIFEST_FILE);
    if (!manifestEntry) {
      issues.add('MISSING_FILE', `${MANIFEST_FILE} is missing: the archive is not a Custos export, or it was removed`,
        { file: MANIFEST_FILE });
      return finish();
    }
    if (manifestEntry.uncompressedSize > limits.maxManifestBytes) {
      issues.add('BAD_MANIFEST', `${MANIFEST_FILE} is ${n0(manifestEntry.uncompressedSize)} bytes, more than the ` +
        `${n0(limits.maxManifestBytes)} read`, { file: MANIFEST_FILE });
      return finish();
    }
    const manifestChunks: Buffer[] = [];
    try {
      await readEntry(zip, manifestEntry, (chunk) => manifestChunks.push(chunk));
    } catch (err) {
      issues.add('UNREADABLE_ARCHIVE', `${MANIFEST_FILE} cannot be read from the archive: ${errorText(err)}`, { file: MANIFEST_FILE });
      return finish();
    }
    let parsed: ParsedManifest | string;
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(manifestChunks));
      parsed = parseManifest(JSON.parse(text));
    } catch (err) {
      parsed = `it is not UTF-8 JSON (${errorText(err)})`;
    }
    if (typeof parsed === 'string') {
      issues.add('BAD_MANIFEST', `${MANIFEST_FILE} is not a ${EXPORT_MANIFEST_FORMAT} manifest: ${parsed}`, { file: MANIFEST_FILE });
      return finish();
    }
    const { manifest, checkpoint, signedBytes } = parsed;
    const leaves = manifest.audit.leaves;
    report.manifest = {
      tenantId: manifest.tenantId, subjectPseudonym: manifest.subjectPseudonym ?? null, requestId: manifest.requestId,
      createdAt: manifest.createdAt, keyId: manifest.keyId,
    };
    report.checkpoint = {
      tenantId: checkpoint.tenantId, treeSize: checkpoint.treeSize, root: checkpoint.root.toString('hex'),
      createdAt: checkpoint.createdAt.toISOString(), keyId: checkpoint.keyId,
    };
    report.events = leaves.length;

    // 2. Signatures: the manifest's, then the checkpoint's.
    const trustedList = trusted.size ? [...trusted.keys()].join(', ') : 'none given';
    const manifestKey = trusted.get(manifest.keyId);
    if (!manifestKey) {
      issues.add('UNKNOWN_KEY', `the manifest is signed by key ${manifest.keyId}, which is not a trusted key (trusted: ${trustedList})`,
        { file: MANIFEST_FILE });
    } else if (!verify(null, signedBytes, publicKeyFromRaw(manifestKey), Buffer.from(manifest.signature, 'base64'))) {
      issues.add('BAD_SIGNATURE', `the manifest's signature does not verify under key ${manifest.keyId}: ` +
        `${MANIFEST_FILE} was changed after signing`, { file: MANIFEST_FILE });
    }
    const checkpointKey = trusted.get(checkpoint.keyId);
    if (!checkpointKey) {
      issues.add('UNKNOWN_KEY', `the audit checkpoint (tree size ${n0(checkpoint.treeSize)}) is signed by key ${checkpoint.keyId}, ` +
        `which is not a trusted key (trusted: ${trustedList})`, { file: MANIFEST_FILE });
    } else if (!verifyCheckpointSignature(checkpoint, checkpointKey)) {
      issues.add('BAD_CHECKPOINT_SIGNATURE', `the audit checkpoint (tree size ${n0(checkpoint.treeSize)}) does not verify under key ` +
        `${checkpoint.keyId}: its fields or signature were changed`, { file: MANIFEST_FILE });
    }

    // 3. The proof: every listed event is in the checkpoint's tree.
    checkProof(manifest, checkpoint, issues);

    // 4. Files against the manifest, and the history against the leaves.
    const listed = new Set(manifest.files.map((f) => f.name));
    for (const name of entries.keys()) {
      if (name !== MANIFEST_FILE && !listed.has(name)) {
        issues.add('EXTRA_FILE', `${shown(name)} is in the archive but not in the manifest`, { file: name });
      }
    }
    for (const expected of manifest.files) {
      const entry = entries.get(expected.name);
      if (!entry) {
        issues.add('MISSING_FILE', `${expected.name} is listed in the manifest but missing from the archive`, { file: expected.name });
        continue;
      }
      const history = expected.name === HISTORY_FILE
        ? new HistoryCsvCheck(leaves, (p) => issues.add('HISTORY_MISMATCH', p.message, {
          file: HISTORY_FILE, ...(p.line !== null ? { line: p.line } : {}), ...(p.eventId !== null ? { eventId: p.eventId } : {}),
        }))
        : null;
      const hash = createHash('sha256');
      let bytes = 0;
      try {
        await readEntry(zip, entry, (chunk) => {
          hash.update(chunk);
          bytes += chunk.length;
          history?.write(chunk);
        });
      } catch (err) {
        issues.add('UNREADABLE_ARCHIVE', `${expected.name} cannot be read from the archive: ${errorText(err)}`, { file: expected.name });
        continue;
      }
      const sha256 = hash.digest('hex');
      const matches = bytes === expected.bytes && sha256 === expected.sha256;
      report.files.push({ name: expected.name, bytes, sha256, matches });
      if (!matches) {
        issues.add('FILE_HASH_MISMATCH', `${expected.name} was altered: it has ${n0(bytes)} bytes with SHA-256 ${sha256}; ` +
          `the manifest says ${n0(expected.bytes)} bytes with SHA-256 ${expected.sha256}`, { file: expected.name });
      }
      if (history) {
        history.end();
        report.historyRows = history.rows;
      }
    }
    return finish();
  } finally {
    zip.close();
  }
}

function checkProof(manifest: ExportManifest, checkpoint: Checkpoint, issues: Issues): void {
  const bad = (message: string) => issues.add('BAD_PROOF', message, { file: MANIFEST_FILE });
  if (manifest.tenantId.toLowerCase() !== checkpoint.tenantId) {
    return bad(`the audit checkpoint is tenant ${checkpoint.tenantId}'s, not the export's tenant ${manifest.tenantId}`);
  }
  const leaves = manifest.audit.leaves;
  const proof = manifest.audit.proof.map((h) => Buffer.from(h, 'hex'));
  for (let i = 0; i < leaves.length; i++) {
    if (leaves[i].leafIndex >= checkpoint.treeSize) {
      return bad(`event ${shown(leaves[i].eventId)} is leaf ${n0(leaves[i].leafIndex)}, beyond the checkpoint's tree of ` +
        `${n0(checkpoint.treeSize)}`);
    }
    if (i > 0 && leaves[i].leafIndex <= leaves[i - 1].leafIndex) {
      return bad('audit.leaves is not in strictly increasing leafIndex order ' +
        `(event ${shown(leaves[i].eventId)}, leaf ${leaves[i].leafIndex})`);
    }
  }
  if (leaves.length === 0) {
    if (proof.length) bad(`the manifest lists no events but a proof of ${proof.length} hashes`);
    return;
  }
  const ok = verifyMultiProof(leaves.map((l) => ({ index: l.leafIndex, hash: Buffer.from(l.leafHash, 'hex') })),
    checkpoint.treeSize, proof, checkpoint.root);
  if (!ok) {
    bad(`the proof does not place the ${n0(leaves.length)} listed events in the checkpoint's tree (size ${n0(checkpoint.treeSize)}, ` +
      `root ${checkpoint.root.toString('hex')}): a leaf hash, leaf index or proof hash is wrong`);
  }
}
