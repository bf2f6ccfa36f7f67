/**
 * The right-of-access export package (DESIGN §5): a ZIP streamed to any writable, holding the caller's
 * files in the given order and, last, `manifest.json`, which names every file's size and SHA-256, the
 * audit checkpoint, the access events' leaves with one multiproof for all of them, and an Ed25519
 * signature. No database code here: the caller passes the files as streams, the checkpoint, the leaves
 * and the proof (or a function building it), and the signing key.
 *
 * Memory stays bounded by the chunk sizes: each file is hashed, measured and DEFLATE-compressed as it
 * streams through (yazl), with backpressure from `out` down to the caller's iterables. Entries larger
 * than 4 GiB, or past 4 GiB of archive, are written in ZIP64 form automatically (sizes in a ZIP64 data
 * descriptor and central directory); `forceZip64` writes every entry that way. What grows with the
 * person's history is what the manifest must prove: the leaves and the proof (kept as given), the
 * signed bytes (one exact-size buffer, ~160 bytes per event) and a flag per leaf for the history check.
 * manifest.json is encoded element by element as it streams (`jsonPieces`, `LazyArray`).
 *
 * ## manifest.json (format custos.export-manifest.v1)
 *
 *   { "format": "custos.export-manifest.v1", "tenantId", "subjectPseudonym"?, "requestId", "createdAt" (ISO 8601),
 *     "files": [{ "name", "bytes", "sha256" (hex) }]            every file except manifest.json, in archive order,
 *     "audit": { "checkpoint": CheckpointJson (as `custos audit checkpoint` prints it),
 *                "leaves": [{ "eventId", "leafIndex", "leafHash" (hex) }]   sorted by leafIndex,
 *                "proof": [hex, …] }                        multiproof (src/audit/multiproof.ts) of the leaves,
 *     "keyId", "signature" (base64) }
 *
 * ## The signed bytes (rebuilt by outside verifiers)
 *
 *   signature = Ed25519 (RFC 8032, pure) by the key `keyId` over
 *     UTF-8("custos.export-manifest.v1\n") || UTF-8(JCS(manifest without its "signature" member))
 *
 * where JCS is RFC 8785 canonical JSON: no whitespace; object members sorted by key (UTF-16 code
 * units); strings escaped as ECMAScript's JSON.stringify does; numbers (all non-negative integers in
 * this format) in plain decimal; an absent `subjectPseudonym` is omitted, never null. Every member
 * except `signature` is covered, including `keyId` and any member a verifier does not know. The file
 * manifest.json itself is indented JSON; its bytes are not what is signed. The prefix keeps these
 * signatures apart from checkpoint signatures, which are made with the same key over bytes starting
 * "custos.checkpoint.v1\n". keyId = hex of the first 16 bytes of SHA-256(raw 32-byte public key).
 *
 * ## access-history.csv
 *
 * Required. RFC 4180 (comma-separated, optional double quotes with "" inside, CRLF or LF line ends),
 * UTF-8, a header row whose first column is `event_id`, then one row per access event: the set of
 * event ids in the first column must equal the manifest's leaves, each listed once. The writer checks
 * this while streaming and fails before writing the manifest if they differ.
 */
import { createHash, sign } from 'node:crypto';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import type { Hash } from '../../../audit/merkle';
import { verifyMultiProof } from '../../../audit/multiproof';
import { verifyCheckpointSignature, type Checkpoint, type SigningKey } from '../../../audit/checkpoint';
import { checkpointToJson, type CheckpointJson } from '../../../audit/verify';

export const EXPORT_MANIFEST_FORMAT = 'custos.export-manifest.v1';
export const MANIFEST_FILE = 'manifest.json';
export const HISTORY_FILE = 'access-history.csv';
/** The first column of access-history.csv's header row. */
export const HISTORY_ID_COLUMN = 'event_id';
/** Longest event id accepted (ids are UUIDs; the bound keeps a hostile CSV from growing a field forever). */
export const MAX_EVENT_ID_LENGTH = 256;

export interface ExportManifestFile {
  name: string;
  bytes: number;
  /** Lowercase hex. */
  sha256: string;
}

export interface ExportManifestLeaf {
  eventId: string;
  leafIndex: number;
  /** Lowercase hex of the RFC 6962 leaf hash the log sealed. */
  leafHash: string;
}

export interface ExportManifest {
  format: typeof EXPORT_MANIFEST_FORMAT;
  tenantId: string;
  subjectPseudonym?: string;
  requestId: string;
  createdAt: string;
  files: ExportManifestFile[];
  audit: { checkpoint: CheckpointJson; leaves: ExportManifestLeaf[]; proof: string[] };
  keyId: string;
  /** Base64 of the 64-byte Ed25519 signature over `manifestSignedBytes`. */
  signature: string;
}

export type UnsignedExportManifest = Omit<ExportManifest, 'signature'>;

// ---------------------------------------------------------------------------------------------
// Canonical encoding and signature
// ---------------------------------------------------------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A long array written element by element, never held as one string or one list of objects: the
 * manifest's leaves and proof. `item(i)` builds element i (a small JSON value) when it is written.
 */
export class LazyArray<T = unknown> {
  constructor(readonly length: number, readonly item: (index: number) => T) {}
}

const scalarJson = (value: unknown): string | null => {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON here holds integers only, got ${value}`);
    return String(value);
  }
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new TypeError('canonical JSON cannot hold a string with a lone surrogate');
    return JSON.stringify(value);
  }
  return null;
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;

/**
 * The pieces of `value`'s JSON text, in order. `canonical`: RFC 8785 (see `canonicalJson`); otherwise
 * indented by two spaces like JSON.stringify(value, null, 2), except that each element of a LazyArray
 * is one line. Either way a LazyArray's elements are built and encoded one at a time.
 */
export function* jsonPieces(value: unknown, canonical: boolean, indent = ''): Generator<string> {
  const scalar = scalarJson(value);
  if (scalar !== null) return yield scalar;
  const inner = `${indent}  `;
  const open = canonical ? '' : `\n${inner}`, comma = canonical ? ',' : `,\n${inner}`, close = canonical ? '' : `\n${indent}`;
  if (Array.isArray(value) || value instanceof LazyArray) {
    const length = value.length;
    if (length === 0) return yield '[]';
    yield `[${open}`;
    for (let i = 0; i < length; i++) {
      if (i > 0) yield comma;
      if (value instanceof LazyArray) yield canonical ? canonicalJson(value.item(i)) : JSON.stringify(value.item(i));
      else yield* jsonPieces(value[i], canonical, inner);
    }
    return yield `${close}]`;
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value).filter((key) => value[key] !== undefined);
    if (canonical) keys.sort();
    if (keys.length === 0) return yield '{}';
    yield `{${open}`;
    for (const [n, key] of keys.entries()) {
      yield `${n > 0 ? comma : ''}${scalarJson(key)}:${canonical ? '' : ' '}`;
      yield* jsonPieces(value[key], canonical, inner);
    }
    return yield `${close}}`;
  }
  throw new TypeError(`canonical JSON cannot hold ${typeof value}`);
}

/** UTF-8 of `pieces` in buffers of about `size` bytes. */
export function* utf8Chunks(pieces: Iterable<string>, size = 64 * 1024): Generator<Buffer> {
  let text = '';
  for (const piece of pieces) {
    text += piece;
    if (text.length >= size) {
      yield Buffer.from(text, 'utf8');
      text = '';
    }
  }
  if (text) yield Buffer.from(text, 'utf8');
}

/**
 * RFC 8785 (JCS) serialization for the values a manifest holds: null, booleans, strings, safe
 * integers, arrays and plain objects. Throws on anything else (floats, lone surrogates, undefined in
 * arrays), which JCS either forbids or would encode in a way other implementations might not repeat.
 * Object members whose value is undefined are omitted, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (value instanceof LazyArray) throw new TypeError('canonical JSON cannot hold a LazyArray as one string');
  return [...jsonPieces(value, true)].join('');
}

const SIGNED_PREFIX = Buffer.from(`${EXPORT_MANIFEST_FORMAT}\n`, 'utf8');

/**
 * The exact bytes the manifest signature covers (see the file comment). A `signature` member is ignored.
 * The manifest may hold LazyArrays (as the writer's does): they are encoded piece by piece.
 */
export function manifestSignedBytes(manifest: UnsignedExportManifest | Record<string, unknown>): Buffer {
  const { signature: _ignored, ...unsigned } = manifest as Record<string, unknown>;
  // Encoded twice, to measure and then to write: one buffer of the exact size, never pieces and a copy of them.
  let length = SIGNED_PREFIX.length;
  for (const piece of jsonPieces(unsigned, true)) length += Buffer.byteLength(piece, 'utf8');
  const bytes = Buffer.allocUnsafe(length);
  let at = SIGNED_PREFIX.copy(bytes, 0);
  for (const piece of jsonPieces(unsigned, true)) at += bytes.write(piece, at, 'utf8');
  if (at !== length) throw new Error('the manifest changed while it was being encoded');
  return bytes;
}

/** Signs a manifest with `key`, which must be the key its `keyId` names. */
export function signExportManifest<M extends UnsignedExportManifest | Record<string, unknown>>(manifest: M, key: SigningKey):
  M & { signature: string } {
  if (manifest.keyId !== key.keyId) throw new Error(`the manifest names key ${String(manifest.keyId)}, not the signing key ${key.keyId}`);
  const { signature: _ignored, ...unsigned } = manifest as Record<string, unknown>;
  return { ...unsigned, signature: sign(null, manifestSignedBytes(unsigned), key.privateKey).toString('base64') } as M & { signature: string };
}

/** File names are flat (no folders), so no archive tool can be made to write outside its target. */
export function isExportFileName(name: unknown): name is string {
  return typeof name === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name);
}

// ---------------------------------------------------------------------------------------------
// access-history.csv: streamed check of its event ids against the leaves
// ---------------------------------------------------------------------------------------------

export interface HistoryProblem {
  /** 1-based physical line where the offending row starts; null for an event missing from the file. */
  line: number | null;
  eventId: string | null;
  message: string;
}

const enum CsvState { FieldStart, Plain, Quoted, QuoteInQuoted }

/**
 * Reads access-history.csv chunk by chunk (RFC 4180; see the file comment) and reports every event
 * id in its first column that is not among `leaves` or is listed twice, and every leaf missing from
 * it. Only the first field of each row is kept, so memory is bounded by the number of leaves. A
 * malformed file (bad quoting, invalid UTF-8, a wrong header) is reported once and read no further.
 */
export class HistoryCsvCheck {
  /** Event id → its position in `leaves`; `seen` marks the positions found (not the file's own copies of the ids). */
  private readonly expected = new Map<string, number>();
  private readonly leafIndexes: number[] = [];
  private readonly seen: Uint8Array;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private state = CsvState.FieldStart;
  private field = 0;
  private first = '';
  private firstTooLong = false;
  private line = 1;
  private recordLine = 1;
  private records = 0;
  private afterCR = false;
  private stopped = false;

  constructor(leaves: Iterable<{ eventId: string; leafIndex: number }>, private readonly report: (problem: HistoryProblem) => void) {
    for (const l of leaves) {
      this.expected.set(l.eventId, this.leafIndexes.length);
      this.leafIndexes.push(l.leafIndex);
    }
    this.seen = new Uint8Array(this.leafIndexes.length);
  }

  /** Rows read so far, the header excluded. */
  get rows(): number {
    return Math.max(0, this.records - 1);
  }

  write(chunk: Uint8Array): void {
    if (this.stopped) return;
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      return this.malformed(`${HISTORY_FILE} is not valid UTF-8 (near line ${this.line})`);
    }
    this.scan(text);
  }

  end(): void {
    if (this.stopped) return;
    try {
      this.scan(this.decoder.decode());
    } catch {
      return this.malformed(`${HISTORY_FILE} is not valid UTF-8 (at its end)`);
    }
    if (this.stopped) return;
    if (this.state === CsvState.Quoted) return this.malformed(`${HISTORY_FILE} line ${this.recordLine}: a quoted field is never closed`);
    if (this.state !== CsvState.FieldStart || this.field > 0) this.endRecord(); // no line end after the last row
    if (this.records === 0) return this.malformed(`${HISTORY_FILE} is empty: it needs a header row starting with ${HISTORY_ID_COLUMN}`);
    this.stopped = true;
    for (const [eventId, at] of this.expected) {
      const leafIndex = this.leafIndexes[at];
      if (!this.seen[at]) {
        this.report({ line: null, eventId, message: `event ${eventId} (leaf ${leafIndex}) is in the manifest but not in ${HISTORY_FILE}` });
      }
    }
  }

  private malformed(message: string): void {
    this.stopped = true;
    this.report({ line: this.recordLine, eventId: null, message });
  }

  private scan(text: string): void {
    // The first field is cut from `text` by slices (`start`: where its current run began, -1 outside one),
    // not built a character at a time.
    let start = this.state === CsvState.Plain || this.state === CsvState.Quoted ? 0 : -1;
    const take = (end: number) => {
      if (start >= 0 && this.field === 0) this.append(text, start, end);
      start = -1;
    };
    for (let i = 0; i < text.length && !this.stopped; i++) {
      const c = text.charCodeAt(i);
      // LF, CRLF and a lone CR each end one physical line (and, outside quotes, a row).
      if (c === 10 && this.afterCR) { // the LF of a CRLF: the CR already counted and acted
        this.afterCR = false;
        if (this.state === CsvState.Quoted && start < 0) start = i;
        continue;
      }
      const newline = c === 10 || c === 13;
      this.afterCR = c === 13;
      switch (this.state) {
        case CsvState.FieldStart:
          if (c === 34) this.state = CsvState.Quoted;
          else if (c === 44) this.endField();
          else if (newline) this.endRecord();
          else { this.state = CsvState.Plain; start = i; }
          break;
        case CsvState.Plain:
          if (c === 44) { take(i); this.endField(); }
          else if (newline) { take(i); this.endRecord(); }
          else if (c === 34) this.malformed(`${HISTORY_FILE} line ${this.recordLine}: a double quote inside an unquoted field`);
          break;
        case CsvState.Quoted:
          if (c === 34) { take(i); this.state = CsvState.QuoteInQuoted; }
          else if (start < 0) start = i;
          break;
        case CsvState.QuoteInQuoted:
          if (c === 34) { this.state = CsvState.Quoted; start = i; } // "" inside quotes: one quote, kept
          else if (c === 44) this.endField();
          else if (newline) this.endRecord();
          else this.malformed(`${HISTORY_FILE} line ${this.recordLine}: text after the closing quote of a field`);
          break;
      }
      if (newline) {
        this.line++;
        if (this.state === CsvState.FieldStart && this.field === 0) this.recordLine = this.line;
      }
    }
    if (!this.stopped) take(text.length); // the field goes on in the next chunk
  }

  private append(text: string, start: number, end: number): void {
    if (this.firstTooLong || end <= start) return;
    if (this.first.length + (end - start) > MAX_EVENT_ID_LENGTH) this.firstTooLong = true;
    else this.first += text.slice(start, end);
  }

  private endField(): void {
    this.field++;
    this.state = CsvState.FieldStart;
  }

  private endRecord(): void {
    const id = this.first, line = this.recordLine, tooLong = this.firstTooLong;
    this.records++;
    this.field = 0;
    this.first = '';
    this.firstTooLong = false;
    this.state = CsvState.FieldStart;
    if (this.records === 1) {
      const header = id.replace(/^\uFEFF/, '');
      if (header !== HISTORY_ID_COLUMN) {
        this.malformed(`${HISTORY_FILE} line ${line}: the header's first column is "${header.slice(0, 40)}", not ${HISTORY_ID_COLUMN}`);
      }
      return;
    }
    const problem = (message: string, eventId: string | null = id) =>
      this.report({ line, eventId, message: `${HISTORY_FILE} line ${line}: ${message}` });
    if (tooLong) return problem(`the event id is longer than ${MAX_EVENT_ID_LENGTH} characters`, null);
    if (id === '') return problem('the row has no event id', null);
    const at = this.expected.get(id);
    if (at === undefined) return problem(`event ${id} is not among the manifest's proven events`);
    if (this.seen[at]) return problem(`event ${id} is listed more than once`);
    this.seen[at] = 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

type Chunk = Buffer | Uint8Array | string;

export interface ExportFileInput {
  /** Flat name: a letter or digit, then letters, digits, '.', '_' or '-' (at most 128). Not manifest.json. */
  name: string;
  /**
   * The bytes, read once in order with backpressure (strings are UTF-8): a generator that renders rows
   * keeps memory bounded. If writing fails, a started iterator is closed (its `return()` is called).
   */
  content: Chunk | AsyncIterable<Chunk> | Iterable<Chunk>;
}

export interface ExportLeafInput {
  eventId: string;
  leafIndex: number;
  /** The RFC 6962 leaf hash stored for the event (level-0 node). */
  leafHash: Hash;
}

/**
 * The multiproof of the leaves against the checkpoint, or a function building it from the leaf
 * indexes (strictly increasing) and the checkpoint's tree size, e.g.
 * `(indexes, size) => multiProof(indexes, size, nodesFetchedFor(multiProofIds(indexes, size)))`.
 */
export type ExportProofSource = Hash[] | ((leafIndexes: number[], treeSize: number) => Hash[] | Promise<Hash[]>);

export interface ExportPackageInput {
  tenantId: string;
  /** The subject's pseudonym, when the export names one; omitted from the manifest when undefined. */
  subjectPseudonym?: string;
  requestId: string;
  createdAt: Date;
  /** In archive order; must include access-history.csv. */
  files: ExportFileInput[];
  /** A signed checkpoint of the tenant's log covering every leaf. */
  checkpoint: Checkpoint;
  /** The access events listed in access-history.csv, in any order (the manifest sorts them by leafIndex). */
  leaves: ExportLeafInput[];
  proof: ExportProofSource;
  signingKey: SigningKey;
  /** Write every entry in ZIP64 form, not only those that need it. */
  forceZip64?: boolean;
}

/** The manifest as written, with its leaves and proof as counts (manifest.json holds them; they can be many). */
export type ExportManifestSummary = Omit<ExportManifest, 'audit'> & { audit: { checkpoint: CheckpointJson; leaves: number; proof: number } };

export interface ExportPackageResult {
  manifest: ExportManifestSummary;
  /** Size and SHA-256 (hex) of the whole ZIP as written to `out`. */
  bytes: number;
  sha256: string;
}

/** Refuses input that could only produce a package that fails verification; returns the leaves sorted by index. */
function checkInput(input: ExportPackageInput): ExportLeafInput[] {
  const fail = (message: string): never => { throw new Error(`Cannot write the export package: ${message}.`); };
  const names = new Set<string>();
  for (const file of input.files) {
    if (!isExportFileName(file.name) || file.name === MANIFEST_FILE) fail(`"${file.name}" is not an allowed file name`);
    if (names.has(file.name)) fail(`two files are named ${file.name}`);
    names.add(file.name);
  }
  if (!names.has(HISTORY_FILE)) fail(`${HISTORY_FILE} is missing from the files`);
  if (!(input.createdAt instanceof Date) || Number.isNaN(input.createdAt.getTime())) fail('createdAt is not a valid date');
  if (typeof input.tenantId !== 'string' || input.tenantId.toLowerCase() !== input.checkpoint.tenantId.toLowerCase()) {
    fail(`the checkpoint belongs to tenant ${input.checkpoint.tenantId}, not ${input.tenantId}`);
  }
  if (typeof input.requestId !== 'string' || input.requestId === '') fail('requestId is empty');
  if (input.subjectPseudonym !== undefined && typeof input.subjectPseudonym !== 'string') fail('subjectPseudonym is not a string');
  const { checkpoint, signingKey } = input;
  if (checkpoint.keyId === signingKey.keyId && !verifyCheckpointSignature(checkpoint, signingKey.publicKeyRaw)) {
    fail('the checkpoint\'s signature does not verify under the signing key');
  }
  const ids = new Set<string>();
  for (const leaf of input.leaves) {
    if (typeof leaf.eventId !== 'string' || leaf.eventId === '' || leaf.eventId.length > MAX_EVENT_ID_LENGTH) {
      fail(`event id "${String(leaf.eventId).slice(0, 40)}" is empty or too long`);
    }
    if (ids.has(leaf.eventId)) fail(`event ${leaf.eventId} is listed twice`);
    ids.add(leaf.eventId);
    if (!Number.isSafeInteger(leaf.leafIndex) || leaf.leafIndex < 0 || leaf.leafIndex >= checkpoint.treeSize) {
      fail(`event ${leaf.eventId}'s leaf index ${leaf.leafIndex} is outside the checkpoint's tree of ${checkpoint.treeSize}`);
    }
    if (!Buffer.isBuffer(leaf.leafHash) || leaf.leafHash.length !== 32) fail(`event ${leaf.eventId}'s leaf hash is not 32 bytes`);
  }
  const sorted = [...input.leaves].sort((a, b) => a.leafIndex - b.leafIndex);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (a.leafIndex === b.leafIndex) fail(`events ${a.eventId} and ${b.eventId} share leaf ${b.leafIndex}`);
  }
  return sorted;
}

function toBuffer(chunk: unknown, name: string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`${name}: content chunks must be Buffers or strings, got ${typeof chunk}`);
}

/** Passes a file's chunks through while hashing and measuring them (and checking the history file). */
async function* measured(file: ExportFileInput, history: HistoryCsvCheck | null, problems: HistoryProblem[],
  done: (m: ExportManifestFile) => void): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let bytes = 0;
  const content = file.content;
  const chunks: AsyncIterable<Chunk> | Iterable<Chunk> = typeof content === 'string' || content instanceof Uint8Array ? [content] : content;
  const refuse = () => {
    const shown = problems.slice(0, 3).map((p) => p.message).join('; ');
    return new Error(`Cannot write the export package: ${HISTORY_FILE} does not list exactly the proven events: ${shown}` +
      `${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}.`);
  };
  for await (const chunk of chunks) {
    const buf = toBuffer(chunk, file.name);
    if (buf.length === 0) continue;
    hash.update(buf);
    bytes += buf.length;
    if (history) {
      history.write(buf);
      if (problems.length) throw refuse();
    }
    yield buf;
  }
  if (history) {
    history.end();
    if (problems.length) throw refuse();
  }
  done({ name: file.name, bytes, sha256: hash.digest('hex') });
}

async function checkedLeavesAndProof(input: ExportPackageInput): Promise<{ leaves: ExportLeafInput[]; proof: Hash[] }> {
  const leaves = checkInput(input);
  const { checkpoint } = input;
  const indexes = leaves.map((l) => l.leafIndex);
  const proof = typeof input.proof === 'function' ? await input.proof(indexes, checkpoint.treeSize) : input.proof;
  const proofVerifies = leaves.length === 0
    ? Array.isArray(proof) && proof.length === 0
    : verifyMultiProof(leaves.map((l) => ({ index: l.leafIndex, hash: l.leafHash })), checkpoint.treeSize, proof, checkpoint.root);
  if (!proofVerifies) {
    throw new Error(`Cannot write the export package: the proof of the ${leaves.length} leaves does not verify against the checkpoint ` +
      `(tree size ${checkpoint.treeSize}, root ${checkpoint.root.toString('hex')}).`);
  }
  return { leaves, proof };
}

/**
 * Streams the export package to `out` and ends it. Resolves once `out` has finished, with the signed
 * manifest and the archive's size and SHA-256. Rejects, and destroys `out`, if the input is
 * inconsistent — checked before the first byte where possible: file names, the checkpoint's tenant,
 * the leaves, the proof against the checkpoint's root — or if a content iterable throws, or if
 * access-history.csv does not list exactly the leaves' events (found while streaming, before the
 * manifest is written, so a partial archive has no manifest and fails verification).
 */
export async function writeExportPackage(out: NodeJS.WritableStream, input: ExportPackageInput): Promise<ExportPackageResult> {
  let leaves: ExportLeafInput[], proof: Hash[];
  try {
    ({ leaves, proof } = await checkedLeavesAndProof(input));
  } catch (err) {
    // Nothing written: close `out` (a file stream would keep its descriptor) without an 'error' event nobody listens for.
    (out as Partial<Writable>).destroy?.();
    throw err;
  }
  const { checkpoint, signingKey } = input;

  const zip = new ZipFile();
  const output = zip.outputStream as unknown as Readable;
  const sources: Readable[] = [];
  const fail = (err: unknown) => output.destroy(err instanceof Error ? err : new Error(String(err)));
  zip.on('error', fail);
  const entryOptions = { mtime: input.createdAt, mode: 0o100644, forceZip64Format: input.forceZip64 === true, compressionLevel: 6 };

  const files: ExportManifestFile[] = [];
  const problems: HistoryProblem[] = [];
  for (const file of input.files) {
    const history = file.name === HISTORY_FILE ? new HistoryCsvCheck(leaves, (p) => problems.push(p)) : null;
    const source = Readable.from(measured(file, history, problems, (m) => files.push(m)), { objectMode: false });
    source.on('error', fail);
    sources.push(source);
    zip.addReadStream(source, file.name, entryOptions);
  }

  let manifest: ExportManifestSummary | undefined;
  // yazl asks for this stream only once every file before it is fully written, so all are measured by then.
  zip.addReadStreamLazy(MANIFEST_FILE, entryOptions, (cb) => {
    try {
      const header = {
        format: EXPORT_MANIFEST_FORMAT as typeof EXPORT_MANIFEST_FORMAT,
        tenantId: input.tenantId,
        ...(input.subjectPseudonym !== undefined ? { subjectPseudonym: input.subjectPseudonym } : {}),
        requestId: input.requestId,
        createdAt: input.createdAt.toISOString(),
        files,
      };
      // The leaves and the proof grow with the person's history: encoded one element at a time, for the
      // signature and again for the file, never held as objects or as one string.
      const audit = {
        checkpoint: checkpointToJson(checkpoint),
        leaves: new LazyArray<ExportManifestLeaf>(leaves.length, (i) => {
          const l = leaves[i];
          return { eventId: l.eventId, leafIndex: l.leafIndex, leafHash: l.leafHash.toString('hex') };
        }),
        proof: new LazyArray<string>(proof.length, (i) => proof[i].toString('hex')),
      };
      const signed = signExportManifest({ ...header, audit, keyId: signingKey.keyId }, signingKey);
      manifest = { ...header, audit: { checkpoint: audit.checkpoint, leaves: leaves.length, proof: proof.length },
        keyId: signed.keyId, signature: signed.signature };
      const text = (function* manifestText() {
        yield* utf8Chunks(jsonPieces(signed, false));
        yield Buffer.from('\n', 'utf8');
      })();
      cb(null, Readable.from(text, { objectMode: false }));
    } catch (err) {
      cb(err, undefined as never);
    }
  });
  zip.end({ forceZip64Format: input.forceZip64 === true, comment: '' });

  const whole = createHash('sha256');
  let bytes = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      whole.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  try {
    await pipeline(output, measure, out);
  } catch (err) {
    // Close the caller's iterators (a database cursor, say) that are still open.
    for (const source of sources) source.destroy();
    throw err;
  }
  if (!manifest) throw new Error('Cannot write the export package: the archive ended without its manifest.');
  return { manifest, bytes, sha256: whole.digest('hex') };
}
