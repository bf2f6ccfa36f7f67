// Export package: written with a generated Ed25519 key and a real (small) Merkle tree, verified offline,
// then tampered with in every way the verifier names. No database.
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, randomUUID, verify } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile as ZipWriter } from 'yazl';
import { openPromise } from 'yauzl';
import { append, Hash, leafHash, nodeKey, rootFrom } from '../../../audit/merkle';
import { multiProof } from '../../../audit/multiproof';
import { checkpointHash, keyIdOf, publicKeyFromRaw, rawPublicKey, signCheckpoint, type SigningKey } from '../../../audit/checkpoint';
import { checkpointFromJson } from '../../../audit/verify';
import {
  canonicalJson, HistoryCsvCheck, jsonPieces, LazyArray, manifestSignedBytes, signExportManifest, utf8Chunks, writeExportPackage,
  type ExportLeafInput, type ExportManifest, type ExportPackageInput, type HistoryProblem,
} from './package';
import { verifyExportPackage, type ExportVerifyReport } from './verify-package';

// ---------------------------------------------------------------------------------------------
// Fixture: a tenant's tree of 300 events, 24 of them about the subject
// ---------------------------------------------------------------------------------------------
function newKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyRaw = rawPublicKey(publicKey);
  return { keyId: keyIdOf(publicKeyRaw), privateKey, publicKey, publicKeyRaw };
}

const key = newKey();
const untrusted = newKey();
const tenantId = randomUUID();
const createdAt = new Date('2026-11-25T10:00:00.000Z');

function buildLog(size: number, isSubjects: (i: number) => boolean) {
  const ids = Array.from({ length: size }, () => randomUUID());
  const hashes = ids.map((id, i) => leafHash(Buffer.from(JSON.stringify(['custos.access_event.v1', id, tenantId, i]))));
  const store = new Map<string, Hash>();
  for (const n of append(0, [], hashes).nodes) store.set(nodeKey(n), n.hash);
  const checkpoint = signCheckpoint({
    tenantId, treeSize: size, root: rootFrom(size, store), createdAt, previousHash: null, keyId: key.keyId,
  }, key);
  const leaves: ExportLeafInput[] = [];
  for (let i = 0; i < size; i++) if (isSubjects(i)) leaves.push({ eventId: ids[i], leafIndex: i, leafHash: hashes[i] });
  return { store, checkpoint, leaves, proof: (indexes: number[], treeSize: number) => multiProof(indexes, treeSize, store) };
}

const log = buildLog(300, (i) => i % 13 === 4 || i === 299);

const HEADER = 'event_id,occurred_at,actor_role,categories,purpose\r\n';
/** One row per event, newest first; later columns use quotes, commas, doubled quotes and line breaks. */
async function* historyCsv(leaves: ExportLeafInput[], padding = ''): AsyncGenerator<string> {
  yield HEADER;
  for (const l of [...leaves].reverse()) {
    yield `${l.eventId},2026-11-${String(1 + (l.leafIndex % 28)).padStart(2, '0')}T09:00:00Z,TEACHER,"GRADES,ATTENDANCE",` +
      `"Term report ""autumn""\nreviewed${padding}"\r\n`;
  }
}

async function* exportJson(sizeBytes = 0): AsyncGenerator<Buffer | string> {
  yield '{"schema":"custos.export.v1","records":[';
  const record = Buffer.from(`{"field":"note","value":"${'x'.repeat(1000)}"},`);
  for (let written = 0; written < sizeBytes; written += record.length) yield record;
  yield '{"field":"end"}]}\n';
}

function input(over: Partial<ExportPackageInput> = {}): ExportPackageInput {
  const leaves = over.leaves ?? log.leaves;
  return {
    tenantId, subjectPseudonym: 'psn_4f1c2a', requestId: '7d2b8f4e-3c1a-4e5f-9a0b-1c2d3e4f5a6b', createdAt,
    files: [
      { name: 'export.json', content: exportJson() },
      { name: 'index.html', content: '<!doctype html><title>Your data</title><p>Everything we hold about you.</p>\n' },
      { name: 'access-history.csv', content: historyCsv(leaves) },
    ],
    checkpoint: log.checkpoint, leaves, proof: log.proof, signingKey: key,
    ...over,
  };
}

let dir: string;
let counter = 0;
const tmp = (name = 'export') => path.join(dir, `${name}-${++counter}.zip`);

async function writePackage(over: Partial<ExportPackageInput> = {}, file = tmp()) {
  const result = await writeExportPackage(createWriteStream(file), input(over));
  return { file, result };
}

const verifyWith = (file: string, keys: Buffer[] = [key.publicKeyRaw]) => verifyExportPackage(file, keys);
const codes = (r: ExportVerifyReport) => r.failures.map((f) => f.code);

// Reading and rewriting archives (test-only, in memory: these are small).
interface Item { name: string; data: Buffer }

async function readZip(file: string): Promise<Item[]> {
  const zip = await openPromise(file, { autoClose: false });
  const items: Item[] = [];
  for await (const entry of zip.eachEntry()) {
    const chunks: Buffer[] = [];
    for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk as Buffer);
    items.push({ name: entry.fileName, data: Buffer.concat(chunks) });
  }
  zip.close();
  return items;
}

async function writeZip(file: string, items: Item[]): Promise<string> {
  const zip = new ZipWriter();
  for (const item of items) zip.addBuffer(item.data, item.name, { mtime: createdAt });
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file));
  return file;
}

/** A copy of `file` with its entries edited by `edit` (which may mutate or replace the list). */
async function tampered(file: string, edit: (items: Item[]) => Item[] | void): Promise<string> {
  const items = await readZip(file);
  return writeZip(tmp('tampered'), edit(items) ?? items);
}

const get = (items: Item[], name: string) => items.find((i) => i.name === name)!;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Edits manifest.json; with `signWith`, signs it again (a signer that got its input wrong, or a forger with that key). */
function editManifest(items: Item[], edit: (m: ExportManifest) => void, signWith?: SigningKey): void {
  const item = get(items, 'manifest.json');
  let manifest = JSON.parse(item.data.toString('utf8')) as ExportManifest;
  edit(manifest);
  if (signWith) manifest = signExportManifest({ ...manifest, keyId: signWith.keyId }, signWith);
  item.data = Buffer.from(JSON.stringify(manifest, null, 2));
}

/** Replaces a file and updates its size and hash in the manifest, signed again with `signWith`. */
function replaceFile(items: Item[], name: string, data: Buffer, signWith: SigningKey): void {
  get(items, name).data = data;
  editManifest(items, (m) => {
    const entry = m.files.find((f) => f.name === name)!;
    entry.bytes = data.length;
    entry.sha256 = sha256(data);
  }, signWith);
}

let good: string;
let goodManifest: ExportManifest;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'custos-export-test-'));
  const { file, result } = await writePackage();
  good = file;
  goodManifest = JSON.parse(get(await readZip(file), 'manifest.json').data.toString('utf8')) as ExportManifest;
  expect(result.manifest.signature).toBe(goodManifest.signature);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// A good package
// ---------------------------------------------------------------------------------------------
describe('a written package', () => {
  it('verifies offline, with the files in order and the manifest last', async () => {
    const report = await verifyWith(good);
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ ok: true, rootCause: null, events: log.leaves.length, historyRows: log.leaves.length });
    expect(report.manifest).toMatchObject({
      tenantId, subjectPseudonym: 'psn_4f1c2a', keyId: key.keyId, createdAt: createdAt.toISOString(),
    });
    expect(report.checkpoint).toMatchObject({ treeSize: 300, root: log.checkpoint.root.toString('hex') });
    expect(report.files.map((f) => [f.name, f.matches]))
      .toEqual([['export.json', true], ['index.html', true], ['access-history.csv', true]]);
    expect((await readZip(good)).map((i) => i.name)).toEqual(['export.json', 'index.html', 'access-history.csv', 'manifest.json']);
  });

  it('returns the manifest it wrote and the archive\'s size and SHA-256', async () => {
    const { file, result } = await writePackage();
    const bytes = readFileSync(file);
    expect(result.bytes).toBe(bytes.length);
    expect(result.sha256).toBe(sha256(bytes));
    const items = await readZip(file);
    const written = JSON.parse(get(items, 'manifest.json').data.toString('utf8')) as ExportManifest;
    const { audit: { leaves, proof, ...auditRest }, ...rest } = written;
    expect({ ...rest, audit: { ...auditRest, leaves: leaves.length, proof: proof.length } }).toEqual(result.manifest);
    for (const f of result.manifest.files) {
      expect(f).toEqual({ name: f.name, bytes: get(items, f.name).data.length, sha256: sha256(get(items, f.name).data) });
    }
    const byIndex = [...log.leaves].sort((a, b) => a.leafIndex - b.leafIndex);
    expect(leaves).toEqual(byIndex.map((l) => ({ eventId: l.eventId, leafIndex: l.leafIndex, leafHash: l.leafHash.toString('hex') })));
    expect(proof.length).toBeGreaterThan(0);
    expect(result.manifest.audit.leaves).toBe(log.leaves.length);
  });

  it('signs the documented bytes: "custos.export-manifest.v1\\n" + RFC 8785 JSON without the signature (rebuilt independently)', () => {
    const sortDeep = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(sortDeep);
      if (!v || typeof v !== 'object') return v;
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortDeep((v as Record<string, unknown>)[k])]));
    };
    const { signature, ...rest } = goodManifest;
    const bytes = Buffer.from(`custos.export-manifest.v1\n${JSON.stringify(sortDeep(rest))}`, 'utf8');
    expect(manifestSignedBytes(goodManifest)).toEqual(bytes);
    expect(verify(null, bytes, publicKeyFromRaw(key.publicKeyRaw), Buffer.from(signature, 'base64'))).toBe(true);
    expect(canonicalJson({ b: [1, 'é\n"'], a: null, c: { z: true, y: undefined } })).toBe('{"a":null,"b":[1,"é\\n\\""],"c":{"z":true}}');
    expect(() => canonicalJson({ x: 1.5 })).toThrow(/integers/);
    expect(() => canonicalJson({ x: '\uD800' })).toThrow(/surrogate/);
  });

  it('encodes long lists element by element, with the same bytes as the whole-value encodings', () => {
    const value = { z: [1, { b: 'x', a: [] }], a: { y: null, x: true, w: {} }, e: 'é\u2028"', u: undefined };
    expect([...jsonPieces(value, false)].join('')).toBe(JSON.stringify(value, null, 2));
    const items = Array.from({ length: 5 }, (_, i) => ({ leafIndex: i, eventId: `e${i}`, leafHash: 'ab'.repeat(i) }));
    const lazy = { list: new LazyArray(items.length, (i) => items[i]), empty: new LazyArray(0, () => 1), n: 3 };
    const eager = { list: items, empty: [], n: 3 };
    expect([...jsonPieces(lazy, true)].join('')).toBe(canonicalJson(eager));
    expect(manifestSignedBytes(lazy)).toEqual(manifestSignedBytes(eager));
    const pretty = [...jsonPieces(lazy, false)].join('');
    expect(JSON.parse(pretty)).toEqual(eager);
    expect(pretty.split('\n').filter((line) => line.includes('"eventId"'))).toHaveLength(5); // one line per element
    expect(Buffer.concat([...utf8Chunks(['ab', 'é', 'cd'], 2)]).toString('utf8')).toBe('abécd');
    expect(() => canonicalJson(new LazyArray(1, () => 1))).toThrow(/LazyArray/);
  });

  it('streams files of several MB (memory bounded by the chunks) and verifies them', async () => {
    const big = buildLog(6000, (i) => i % 2 === 0); // 3,000 events
    const padding = ' '.repeat(1000);
    const { file, result } = await writePackage({
      checkpoint: big.checkpoint, leaves: big.leaves, proof: big.proof,
      files: [
        { name: 'export.json', content: exportJson(8 * 1024 * 1024) },
        { name: 'access-history.csv', content: historyCsv(big.leaves, padding) },
      ],
    });
    const sizes = Object.fromEntries(result.manifest.files.map((f) => [f.name, f.bytes]));
    expect(sizes['export.json']).toBeGreaterThan(8 * 1024 * 1024);
    expect(sizes['access-history.csv']).toBeGreaterThan(3 * 1024 * 1024);
    expect(statSync(file).size).toBeLessThan(2 * 1024 * 1024); // DEFLATE
    const report = await verifyWith(file);
    expect(report.failures).toEqual([]);
    expect(report.historyRows).toBe(3000);
  });

  it('with forceZip64, writes ZIP64 records that the verifier reads', async () => {
    const { file } = await writePackage({ forceZip64: true });
    const bytes = readFileSync(file);
    expect(bytes.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBe(true); // ZIP64 end of central directory
    expect((await verifyWith(file)).failures).toEqual([]);
  });

  it('an export with no access events: the header-only history and an empty proof verify', async () => {
    const { file, result } = await writePackage({ leaves: [], proof: [] });
    expect(result.manifest.audit).toMatchObject({ leaves: 0, proof: 0 });
    expect(await verifyWith(file)).toMatchObject({ ok: true, events: 0, historyRows: 0 });
  });

  it('writes to a slow consumer with backpressure', async () => {
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) { chunks.push(chunk); setImmediate(cb); },
    });
    const result = await writeExportPackage(slow, input({ files: [
      { name: 'export.json', content: exportJson(2 * 1024 * 1024) },
      { name: 'access-history.csv', content: historyCsv(log.leaves) },
    ] }));
    const file = tmp('slow');
    writeFileSync(file, Buffer.concat(chunks));
    expect(result.bytes).toBe(statSync(file).size);
    expect((await verifyWith(file)).ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The writer refuses what could not verify
// ---------------------------------------------------------------------------------------------
describe('the writer refuses', () => {
  const sink = () => new PassThrough().resume();

  it('a history that does not list exactly the proven events, before writing the manifest', async () => {
    const file = tmp('refused');
    await expect(writeExportPackage(createWriteStream(file), input({ files: [
      { name: 'access-history.csv', content: historyCsv(log.leaves.slice(1)) },
    ] }))).rejects.toThrow(new RegExp(`event ${log.leaves[0].eventId} \\(leaf 4\\) is in the manifest but not in access-history.csv`));
    const partial = await verifyWith(file);
    expect(partial.ok).toBe(false);
    expect(partial.rootCause).toBe('UNREADABLE_ARCHIVE'); // no central directory: nothing usable was written
  });

  it('a proof that does not verify, a checkpoint of another tenant, bad names, a missing history file, duplicate leaves', async () => {
    const proof = multiProof(log.leaves.map((l) => l.leafIndex), 300, log.store);
    proof[0] = Buffer.alloc(32);
    const out = sink();
    await expect(writeExportPackage(out, input({ proof }))).rejects.toThrow(/proof of the 24 leaves does not verify/);
    expect(out.destroyed).toBe(true); // nothing written, and closed
    await expect(writeExportPackage(sink(), input({ tenantId: randomUUID() }))).rejects.toThrow(/belongs to tenant/);
    const refused = (over: Partial<ExportPackageInput>) => expect(writeExportPackage(sink(), input(over))).rejects;
    const history = { name: 'access-history.csv', content: HEADER };
    await refused({ files: [{ name: '../x', content: '' }, history] }).toThrow(/not an allowed file name/);
    await refused({ files: [{ name: 'manifest.json', content: '{}' }] }).toThrow(/not an allowed/);
    await refused({ files: [{ name: 'export.json', content: '{}' }] }).toThrow(/access-history.csv is missing/);
    await refused({ leaves: [...log.leaves, log.leaves[0]] }).toThrow(/listed twice/);
    await refused({ leaves: [{ ...log.leaves[0], leafIndex: 300 }] }).toThrow(/outside the checkpoint/);
  });

  it('and closes a content iterator that was started when a later one throws', async () => {
    let closed = false;
    async function* rows() {
      try {
        yield HEADER;
        for (const l of log.leaves) yield `${l.eventId}\r\n`;
      } finally {
        closed = true;
      }
    }
    async function* broken(): AsyncGenerator<string> {
      yield 'partial';
      throw new Error('the database went away');
    }
    await expect(writeExportPackage(sink(), input({ files: [
      { name: 'access-history.csv', content: rows() },
      { name: 'export.json', content: broken() },
    ] }))).rejects.toThrow(/the database went away/);
    expect(closed).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Tampering: the exact failure code each time
// ---------------------------------------------------------------------------------------------
describe('the verifier names each tampering', () => {
  it('a byte edited in a file: FILE_HASH_MISMATCH', async () => {
    const file = await tampered(good, (items) => { get(items, 'index.html').data[20] ^= 1; });
    const report = await verifyWith(file);
    expect(codes(report)).toEqual(['FILE_HASH_MISMATCH']);
    expect(report.failures[0]).toMatchObject({ file: 'index.html' });
    expect(report.failures[0].message).toMatch(/index.html was altered/);
  });

  it('a row removed from the history: FILE_HASH_MISMATCH first, then the HISTORY_MISMATCH it causes', async () => {
    const removed = log.leaves[log.leaves.length - 1]; // the first data row (rows are newest first)
    const file = await tampered(good, (items) => {
      const csv = get(items, 'access-history.csv');
      const text = csv.data.toString('utf8');
      const start = text.indexOf(removed.eventId);
      const end = text.indexOf('\r\n', text.indexOf('reviewed', start)) + 2;
      csv.data = Buffer.from(text.slice(0, start) + text.slice(end), 'utf8');
    });
    const report = await verifyWith(file);
    expect(report.rootCause).toBe('FILE_HASH_MISMATCH');
    expect(codes(report)).toEqual(['FILE_HASH_MISMATCH', 'HISTORY_MISMATCH']);
    expect(report.failures[1]).toMatchObject({ eventId: removed.eventId, file: 'access-history.csv' });
    expect(report.failures[1].message).toMatch(/is in the manifest but not in access-history.csv/);
  });

  it('a history that disagrees with a correctly signed manifest: HISTORY_MISMATCH naming line and event', async () => {
    const stranger = randomUUID();
    const file = await tampered(good, (items) => {
      const text = get(items, 'access-history.csv').data.toString('utf8');
      const lines = `${text}${stranger},2026-11-02T09:00:00Z,ADMIN,GRADES,audit\r\n${log.leaves[3].eventId},x,y,z,w\r\n`;
      replaceFile(items, 'access-history.csv', Buffer.from(lines), key);
    });
    const report = await verifyWith(file);
    expect(codes(report)).toEqual(['HISTORY_MISMATCH', 'HISTORY_MISMATCH']);
    // Header on line 1, each of the 24 rows spans two lines (a quoted line break).
    expect(report.failures[0]).toMatchObject({ line: 2 + 2 * 24, eventId: stranger });
    expect(report.failures[0].message).toMatch(new RegExp(`line 50: event ${stranger} is not among the manifest's proven events`));
    expect(report.failures[1]).toMatchObject({ line: 51, eventId: log.leaves[3].eventId });
    expect(report.failures[1].message).toMatch(/listed more than once/);
  });

  it('the manifest re-signed with an untrusted key: UNKNOWN_KEY', async () => {
    const file = await tampered(good, (items) => editManifest(items, () => undefined, untrusted));
    const report = await verifyWith(file);
    expect(codes(report)).toEqual(['UNKNOWN_KEY']);
    expect(report.failures[0].message).toMatch(new RegExp(`signed by key ${untrusted.keyId}, which is not a trusted key`));
    // Trusting only the other key: the checkpoint's key is unknown instead.
    expect(codes(await verifyWith(file, [untrusted.publicKeyRaw]))).toEqual(['UNKNOWN_KEY']);
    expect((await verifyWith(file, [untrusted.publicKeyRaw])).failures[0].message).toMatch(/audit checkpoint/);
  });

  it('a flipped signature bit: BAD_SIGNATURE', async () => {
    const file = await tampered(good, (items) => editManifest(items, (m) => {
      const sig = Buffer.from(m.signature, 'base64');
      sig[10] ^= 0x04;
      m.signature = sig.toString('base64');
    }));
    expect(codes(await verifyWith(file))).toEqual(['BAD_SIGNATURE']);
  });

  it('a file edited and its hash updated in the manifest, without the key: BAD_SIGNATURE', async () => {
    const file = await tampered(good, (items) => {
      const html = get(items, 'index.html');
      html.data = Buffer.from('<p>Nothing to see.</p>');
      editManifest(items, (m) => {
        const entry = m.files.find((f) => f.name === 'index.html')!;
        entry.bytes = html.data.length;
        entry.sha256 = sha256(html.data);
      });
    });
    expect(codes(await verifyWith(file))).toEqual(['BAD_SIGNATURE']);
  });

  it('an altered proof hash: BAD_PROOF (and BAD_SIGNATURE first when the manifest was not signed again)', async () => {
    const alter = (m: ExportManifest) => {
      const h = m.audit.proof[1];
      m.audit.proof[1] = `${h.slice(0, 63)}${h.endsWith('0') ? '1' : '0'}`;
    };
    const signed = await tampered(good, (items) => editManifest(items, alter, key));
    const report = await verifyWith(signed);
    expect(codes(report)).toEqual(['BAD_PROOF']);
    expect(report.failures[0].message).toMatch(/does not place the 24 listed events in the checkpoint's tree \(size 300/);
    const unsigned = await tampered(good, (items) => editManifest(items, alter));
    expect(codes(await verifyWith(unsigned))).toEqual(['BAD_SIGNATURE', 'BAD_PROOF']);
  });

  it('a leaf swapped for another event\'s, or moved: BAD_PROOF', async () => {
    const swapped = await tampered(good, (items) => editManifest(items, (m) => {
      [m.audit.leaves[0].leafHash, m.audit.leaves[1].leafHash] = [m.audit.leaves[1].leafHash, m.audit.leaves[0].leafHash];
    }, key));
    expect(codes(await verifyWith(swapped))).toEqual(['BAD_PROOF']);
    const moved = await tampered(good, (items) => editManifest(items, (m) => { m.audit.leaves[0].leafIndex += 1; }, key));
    expect(codes(await verifyWith(moved))).toEqual(['BAD_PROOF']);
  });

  it('an altered checkpoint: BAD_CHECKPOINT_SIGNATURE', async () => {
    const file = await tampered(good, (items) => editManifest(items, (m) => {
      const sig = Buffer.from(m.audit.checkpoint.signature, 'base64');
      sig[0] ^= 1;
      m.audit.checkpoint.signature = sig.toString('base64');
      m.audit.checkpoint.hash = checkpointHash(checkpointFromJson(m.audit.checkpoint)).toString('hex');
    }, key));
    expect(codes(await verifyWith(file))).toEqual(['BAD_CHECKPOINT_SIGNATURE']);
  });

  it('a file dropped: MISSING_FILE; the manifest dropped: MISSING_FILE', async () => {
    const file = await tampered(good, (items) => items.filter((i) => i.name !== 'export.json'));
    const report = await verifyWith(file);
    expect(codes(report)).toEqual(['MISSING_FILE']);
    expect(report.failures[0]).toMatchObject({ file: 'export.json' });
    const noManifest = await tampered(good, (items) => items.filter((i) => i.name !== 'manifest.json'));
    expect(codes(await verifyWith(noManifest))).toEqual(['MISSING_FILE']);
  });

  it('a file added: EXTRA_FILE', async () => {
    const file = await tampered(good, (items) => [...items, { name: 'notes.txt', data: Buffer.from('added later') }]);
    const report = await verifyWith(file);
    expect(codes(report)).toEqual(['EXTRA_FILE']);
    expect(report.failures[0].message).toMatch(/notes.txt is in the archive but not in the manifest/);
  });

  it('a corrupt archive: UNREADABLE_ARCHIVE (truncated, garbage, a corrupt central directory)', async () => {
    const bytes = readFileSync(good);
    const truncated = tmp('truncated');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 30));
    expect(codes(await verifyWith(truncated))).toEqual(['UNREADABLE_ARCHIVE']);
    const garbage = tmp('garbage');
    writeFileSync(garbage, Buffer.from('this is not a zip file at all'));
    expect(codes(await verifyWith(garbage))).toEqual(['UNREADABLE_ARCHIVE']);
    const cd = Buffer.from(bytes);
    const at = cd.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); // the last central directory record
    cd.writeUInt32LE(0xdeadbeef, at);
    const badDirectory = tmp('bad-directory');
    writeFileSync(badDirectory, cd);
    expect(codes(await verifyWith(badDirectory))).toEqual(['UNREADABLE_ARCHIVE']);
  });

  it('an invalid manifest: BAD_MANIFEST', async () => {
    const notJson = await tampered(good, (items) => { get(items, 'manifest.json').data = Buffer.from('{"format":'); });
    expect(codes(await verifyWith(notJson))).toEqual(['BAD_MANIFEST']);
    const extraMember = await tampered(good, (items) => editManifest(items, (m) => {
      (m as unknown as Record<string, unknown>).note = 'x';
    }, key));
    const report = await verifyWith(extraMember);
    expect(codes(report)).toEqual(['BAD_MANIFEST']);
    expect(report.failures[0].message).toMatch(/unknown member "note"/);
  });
});

describe('unsafe archives are refused before anything is read', () => {
  /** A package whose entry `name` is renamed in place to `renamed` (same length), bypassing the writer's checks. */
  async function renamedEntry(name: string, renamed: string): Promise<string> {
    const items = await readZip(good);
    items.push({ name, data: Buffer.from('payload') });
    const file = await writeZip(tmp('unsafe'), items);
    const bytes = readFileSync(file);
    const from = Buffer.from(name), to = Buffer.from(renamed);
    for (let at = bytes.indexOf(from); at >= 0; at = bytes.indexOf(from, at + 1)) to.copy(bytes, at);
    writeFileSync(file, bytes);
    return file;
  }

  it('path traversal and absolute names', async () => {
    for (const [name, renamed] of [['aa/evil.txt', '../evil.txt'], ['xetc/passwd', '/etc/passwd']]) {
      const report = await verifyWith(await renamedEntry(name, renamed));
      expect(codes(report)).toEqual(['UNREADABLE_ARCHIVE']);
      expect(report.failures[0].message).toMatch(/corrupt or unsafe/);
    }
  });

  it('two entries with the same name', async () => {
    const file = await tampered(good, (items) => [...items, { name: 'index.html', data: Buffer.from('<p>the other one</p>') }]);
    const report = await verifyWith(file);
    expect(codes(report)).toEqual(['UNREADABLE_ARCHIVE']);
    expect(report.failures[0].message).toMatch(/two entries named index.html/);
  });

  it('a zip bomb: declared sizes beyond the limit, and too many entries', async () => {
    const bomb = await tampered(good, (items) => [...items, { name: 'zeros.bin', data: Buffer.alloc(20 * 1024 * 1024) }]);
    expect(statSync(bomb).size).toBeLessThan(200 * 1024);
    const report = await verifyExportPackage(bomb, [key.publicKeyRaw], { maxTotalBytes: 10 * 1024 * 1024 });
    expect(codes(report)).toEqual(['UNREADABLE_ARCHIVE']);
    expect(report.failures[0].message).toMatch(/zip bomb/);
    const fillers = Array.from({ length: 70 }, (_, i) => ({ name: `f${i}`, data: Buffer.alloc(1) }));
    const many = await tampered(good, (items) => [...items, ...fillers]);
    expect(codes(await verifyWith(many))).toEqual(['UNREADABLE_ARCHIVE']);
  });

  it('cannot run on a missing file or with a malformed key: throws rather than reporting', async () => {
    await expect(verifyWith(path.join(dir, 'nope.zip'))).rejects.toThrow(/ENOENT/);
    await expect(verifyWith(dir)).rejects.toThrow(/not a file/);
    await expect(verifyWith(good, [Buffer.alloc(31)])).rejects.toThrow(/32-byte/);
  });
});

// ---------------------------------------------------------------------------------------------
// The history CSV reader
// ---------------------------------------------------------------------------------------------
describe('HistoryCsvCheck', () => {
  const leaves = [{ eventId: 'e1', leafIndex: 1 }, { eventId: 'e2', leafIndex: 5 }, { eventId: 'e,3', leafIndex: 9 }];
  /** Feeds `text` in chunks of `size` bytes (splitting CRLFs, quotes and multi-byte characters). */
  function run(text: string, size: number): { problems: HistoryProblem[]; rows: number } {
    const problems: HistoryProblem[] = [];
    const check = new HistoryCsvCheck(leaves, (p) => problems.push(p));
    const bytes = Buffer.from(text, 'utf8');
    for (let i = 0; i < bytes.length; i += size) check.write(bytes.subarray(i, i + size));
    check.end();
    return { problems, rows: check.rows };
  }

  it('reads RFC 4180: quotes, doubled quotes, commas and line breaks in fields, CRLF or LF, a BOM, no final line end', () => {
    const text = '\uFEFFevent_id,note\r\n"e1","a ""quoted"", multi\r\nline é"\r\ne2,plain\n"e,3",last';
    for (const size of [1, 2, 3, 7, 1000]) expect(run(text, size)).toEqual({ problems: [], rows: 3 });
  });

  it('reads the event id itself across chunk boundaries: doubled quotes and line breaks inside it, and an overlong id', () => {
    const odd = [{ eventId: 'a"b', leafIndex: 1 }, { eventId: 'c\r\nd', leafIndex: 2 }, { eventId: 'x'.repeat(256), leafIndex: 3 }];
    const text = `event_id\n"a""b",1\r\n"c\r\nd"\n${'x'.repeat(256)}\n${'y'.repeat(257)},2\n`;
    for (const size of [1, 2, 3, 5, 64, 1000]) {
      const problems: HistoryProblem[] = [];
      const check = new HistoryCsvCheck(odd, (p) => problems.push(p));
      const bytes = Buffer.from(text, 'utf8');
      for (let i = 0; i < bytes.length; i += size) check.write(bytes.subarray(i, i + size));
      check.end();
      expect(problems.map((p) => p.message)).toEqual(['access-history.csv line 6: the event id is longer than 256 characters']);
      expect(check.rows).toBe(4);
    }
  });

  it('names lines and events: unknown, duplicate, empty, missing', () => {
    const text = 'event_id,note\n"e1","two\nlines"\ne9,x\ne1,again\n\ne2,x\n';
    const { problems } = run(text, 5);
    expect(problems.map((p) => [p.line, p.eventId])).toEqual([[4, 'e9'], [5, 'e1'], [6, null], [null, 'e,3']]);
    expect(problems[3].message).toBe('event e,3 (leaf 9) is in the manifest but not in access-history.csv');
  });

  it('refuses malformed files once: bad quoting, a wrong header, invalid UTF-8, an unterminated quote', () => {
    const messages = (text: string) => run(text, 4).problems.map((p) => p.message);
    expect(messages('event_id\ne1"x\n')).toEqual(['access-history.csv line 2: a double quote inside an unquoted field']);
    expect(messages('event_id\n"e1"x\n')).toEqual(['access-history.csv line 2: text after the closing quote of a field']);
    expect(messages('id,event_id\ne1\n')).toEqual(['access-history.csv line 1: the header\'s first column is "id", not event_id']);
    expect(messages('event_id\ne1\n"e2\n')).toEqual(['access-history.csv line 3: a quoted field is never closed']);
    const problems: HistoryProblem[] = [];
    const check = new HistoryCsvCheck(leaves, (p) => problems.push(p));
    check.write(Buffer.from([0x65, 0x76, 0xff, 0x0a]));
    check.end();
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toMatch(/not valid UTF-8/);
    expect(messages('')).toEqual([expect.stringMatching(/is empty/)]);
  });
});

// ---------------------------------------------------------------------------------------------
// The command line, as a real child process, on a machine with no database
// ---------------------------------------------------------------------------------------------
describe('custos export verify', () => {
  const ROOT = path.resolve(__dirname, '../../../..');
  const BIN = path.join(ROOT, 'bin/custos.js');
  let dataDir: string;

  beforeAll(() => {
    if (!existsSync(path.join(ROOT, 'dist/src/cli/commands/export.js'))) throw new Error('Build first: npm run build');
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'custos-export-cli-'));
  });

  /** No reachable database: DATABASE_URL points at a closed port, and the embedded one's folder must stay empty. */
  function custos(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], {
        cwd: ROOT, timeout: 30_000,
        env: {
          PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test',
          DATABASE_URL: 'postgres://127.0.0.1:1/none', CUSTOS_DATA_DIR: dataDir,
        },
      }, (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      });
    });
  }

  it('exits 0 for a good export and 28 for an altered file, without touching a database', async () => {
    const hexKey = key.publicKeyRaw.toString('hex');
    const ok = await custos(['export', 'verify', good, '--public-key', hexKey]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/Verified: 3 files match the signed manifest; 24 access events proven/);

    const pem = path.join(dir, 'public.pem');
    writeFileSync(pem, key.publicKey.export({ type: 'spki', format: 'pem' }));
    const json = await custos(['export', 'verify', good, '--public-key', pem, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, rootCause: null, exitCode: 0, trustedKeys: [key.keyId], events: 24 });

    const altered = await tampered(good, (items) => { get(items, 'export.json').data[3] ^= 1; });
    const bad = await custos(['export', 'verify', altered, '--public-key', hexKey, '--json']);
    expect(bad.code).toBe(28);
    const out = JSON.parse(bad.stdout);
    expect(out).toMatchObject({ ok: false, rootCause: 'FILE_HASH_MISMATCH', exitCode: 28 });
    expect(out.failures[0].message).toMatch(/export.json was altered/);

    const b64 = await custos(['export', 'verify', good, '--public-key', untrusted.publicKeyRaw.toString('base64'), '--public-key',
      key.publicKeyRaw.toString('base64')]);
    expect(b64.code).toBe(0);

    const text = await custos(['export', 'verify', altered, '--public-key', pem]);
    expect(text.code).toBe(28);
    expect(text.stdout).toMatch(/Root cause: FILE_HASH_MISMATCH \(exit 28\)/);

    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('exits 1 when it cannot run and 2 on usage errors', async () => {
    const missing = await custos(['export', 'verify', path.join(dir, 'missing.zip'), '--public-key', key.publicKeyRaw.toString('hex')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Cannot verify .*missing.zip: ENOENT/);
    const badKey = await custos(['export', 'verify', good, '--public-key', 'abc']);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/neither a raw key \(64 hex digits or base64\) nor a readable key file/);
    const usage = await custos(['export', 'verify', good]);
    expect(usage.code).toBe(2);
  });
});
