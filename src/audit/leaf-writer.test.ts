import { createHash } from 'node:crypto';
import { LeafWriter, PG_EPOCH_US, eventLeafHash, fastLeafBytes, type BinarySubjects } from './leaf-writer';
import { LEAF_FORMAT, leafBytes, type EventRecord } from './leaf';
import { leafHash } from './merkle';
import { pgTimestamp } from '../db/timestamps';
import { prng } from '../shared/prng';

/** The leaf format written out literally (JSON.stringify), independent of leaf.ts. */
function reference(e: EventRecord): Buffer {
  const subjects = [...e.subjects]
    .map(([p, cats]) => [p, [...cats].sort()] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const b64 = (b: Buffer | null) => (b ? b.toString('base64') : null);
  return Buffer.from(JSON.stringify([
    LEAF_FORMAT, e.id, e.tenant_id, pgTimestamp(e.occurred_at).toISOString(), e.request_id, e.operation_type, e.operation_name,
    e.root_field, [...e.fields], e.access_kind, e.purpose, e.actor_kind, e.actor_role, e.actor_pseudonym, e.credential_id,
    [...e.resources], e.outcome, e.error_code, e.item_count, b64(e.actor_ip), b64(e.actor_user_agent), subjects,
  ]), 'utf8');
}

/** The bytes, or the name of the error thrown. */
const outcome = (f: () => Buffer) => {
  try {
    return f().toString('latin1');
  } catch (err) {
    return `throws ${(err as Error).constructor.name}`;
  }
};

const r = prng(6962);
const PIECES = [
  'a', 'Z', '0', ' ', '.', ':', '-', '_', '~', 'User.email', 'Course:3f2e1d0c', '"', '\\', '/', '\n', '\t', '\r', '\u0000', '\u0001', '\u001f',
  '\u007f', '\u0080', 'é', 'ß', '中文', '\u2028', '\u2029', '\ufeff', '\uffff', '\ue000', '😀', '𝄞', '\ud800', '\udbff', '\udc00', '\udfff',
];
const ASCII_PIECES = PIECES.slice(0, 11);
function randomString(maxPieces = 6): string {
  if (r.int(0, 3) === 0) return r.pick(['', 'user.name', 'SUCCESS', 'education.delivery', 'Query.course']);
  const n = r.int(0, r.int(0, 100) === 0 ? 300 : maxPieces);
  let s = '';
  // Mostly plain ASCII, sometimes anything.
  const pool = r.int(0, 2) === 0 ? PIECES : ASCII_PIECES;
  for (let i = 0; i < n; i++) s += r.pick(pool);
  return s;
}
const hex = (n: number) => Array.from({ length: n }, () => r.int(0, 15).toString(16)).join('');
const randomUuid = () => `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
const maybe = <T>(v: () => T): T | null => (r.int(0, 3) === 0 ? null : v());
const list = <T>(item: () => T, max = 4): T[] => Array.from({ length: r.int(0, r.int(0, 100) === 0 ? 200 : max) }, item);
const randomBytes = (max = 80) => Buffer.from(Array.from({ length: r.int(0, max) }, () => r.int(0, 255)));
const randomInt = () => r.pick([0, 1, -1, 7, 10, 99, 100, 2147483647, -2147483648, r.int(-1e6, 1e6)]);
const CATEGORIES = [...['user.name', 'user.contact.email', 'user.education.grade', '', 'a"b'].map((c) => () => c), () => randomString(3)];
/** Pseudonyms from a small pool, so duplicates and unsorted lists are common. */
const POOL = Array.from({ length: 5 }, randomUuid);

function pgText(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-24T21:16:43.873Z
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? `.${frac}` : ''}+00`;
}

function randomTime(): Date | string {
  const ms = r.pick([
    () => 1_795_000_000_000 + r.int(0, 1e9),
    () => r.int(-62_167_219_200_000, 253_402_300_799_999),
    () => r.pick([-62_167_219_200_000, -62_167_219_200_001, 253_402_300_799_999, 253_402_300_800_000, 0, -1, 8.64e15, -8.64e15, 8.64e15 + 1, NaN]),
  ])();
  switch (r.int(0, 4)) {
    case 0: return new Date(ms);
    case 1: {
      // Text as raw statements return it, sometimes altered into something pgTimestamp parses differently or rejects.
      if (Number.isNaN(ms) || Math.abs(ms) > 8.64e15) return '2026-11-24 21:16:43.873+00';
      const s = pgText(ms);
      return r.pick([
        s, s, s,
        s.replace(/\+00$/, '+01'), s.replace(/\+00$/, '-0530'), s.replace(/\.\d+/, '.123456'), s.replace(/\.\d+/, '.'),
        s.replace(/^\d{4}-\d\d-\d\d/, '2026-02-30'), s.replace(/^\d{4}-\d\d-\d\d/, '2024-02-29'), s.replace(/^\d{4}-\d\d-\d\d/, '2023-13-01'),
        s.replace(/ \d\d:/, ' 24:'), s.replace(/:\d\d(\.|\+)/, ':60$1'), s.replace(/^\d{4}/, '0000'), s.replace(/^\d{4}/, '20x6'), `${s} BC`, ` ${s}`,
      ]);
    }
    default: return new Date(ms);
  }
}

function randomEvent(): EventRecord {
  return {
    id: randomUuid(), tenant_id: randomUuid(), occurred_at: randomTime(), request_id: randomString(), operation_type: randomString(),
    operation_name: maybe(randomString), root_field: randomString(), fields: list(() => randomString()), access_kind: randomString(),
    purpose: randomString(), actor_kind: randomString(), actor_role: maybe(randomString), actor_pseudonym: maybe(randomUuid),
    credential_id: maybe(randomString), resources: list(() => randomString()), outcome: randomString(), error_code: maybe(randomString),
    item_count: randomInt(), actor_ip: maybe(randomBytes), actor_user_agent: maybe(() => randomBytes(300)),
    subjects: list(() => [r.pick(POOL), list(() => r.pick(CATEGORIES)(), 5)]),
  };
}

describe('LeafWriter from an EventRecord', () => {
  it('writes the same bytes as JSON.stringify over many random events', () => {
    for (let i = 0; i < 5_000; i++) {
      const e = randomEvent();
      const expected = outcome(() => reference(e));
      const got = outcome(() => fastLeafBytes(e));
      if (got !== expected) expect(got).toBe(expected); // (expect is slow: only when it fails)
      if (!expected.startsWith('throws') && !eventLeafHash(e).equals(leafHash(leafBytes(e)))) expect(e).toBe('hashed differently');
    }
  });

  it('matches for values of unexpected types too (by falling back)', () => {
    const base = randomEvent();
    base.occurred_at = new Date(0);
    const odd: Partial<Record<keyof EventRecord, unknown>>[] = [
      { item_count: 1.5 }, { item_count: NaN }, { item_count: -0 }, { item_count: 1e21 }, { item_count: null }, { item_count: 2 ** 60 },
      { fields: [null, undefined, 1, ['x']] }, { fields: 'abc' }, { resources: [{ a: 1 }] }, { resources: new Set(['b', 'a']) },
      { fields: [, 'hole'] }, { operation_name: undefined }, { actor_ip: 'not a buffer' }, { actor_ip: new Uint8Array([1, 2]) },
      { subjects: [[1, ['b', 'a']], [0, []]] }, { subjects: [['p', [null, 'a', undefined]]] }, { subjects: [['b', ['z']], ['a', ['y', 'x']], ['a', ['w']]] },
      { subjects: [] }, { subjects: [['p', []]] }, { occurred_at: 12 }, { occurred_at: new Date(NaN) }, { id: null }, { tenant_id: 5 },
    ];
    for (const o of odd) {
      const e = { ...base, ...o } as EventRecord;
      expect(outcome(() => fastLeafBytes(e))).toBe(outcome(() => reference(e)));
    }
  });

  it('keeps the golden leaf', () => {
    const event: EventRecord = {
      id: '7b1f1f4e-2d7a-4a43-9b0e-6f3a1d2c9e10', tenant_id: '0c4f0e5a-6b52-4a8e-9f3e-2b1d8c7a6e54', occurred_at: new Date('2026-11-24T10:15:30.123Z'),
      request_id: 'req-1', operation_type: 'query', operation_name: 'Roster', root_field: 'Query.course', fields: ['User.email', 'Enrollment.finalGrade'],
      access_kind: 'READ', purpose: 'education.delivery', actor_kind: 'USER', actor_role: 'INSTRUCTOR', actor_pseudonym: '5e0c1b9a-4f6d-4e2a-8c3b-7d9e0f1a2b3c',
      credential_id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', resources: ['Course:3f2e1d0c-9b8a-4f7e-8d6c-5b4a3f2e1d0c'], outcome: 'SUCCESS', error_code: null,
      item_count: 2, actor_ip: Buffer.from('0102', 'hex'), actor_user_agent: null,
      subjects: [['f1e2d3c4-b5a6-4978-8877-665544332211', ['user.education.grade', 'user.contact.email']], ['a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', ['user.name']]],
    };
    expect(eventLeafHash(event).toString('hex')).toBe('18ed4011de5952689a05b62fe7e571731239348e7009f86d5e64fea2aa9092c2');
    expect(createHash('sha256').update(Buffer.from([0])).update(fastLeafBytes(event)).digest('hex'))
      .toBe('18ed4011de5952689a05b62fe7e571731239348e7009f86d5e64fea2aa9092c2');
  });

  it('formats timestamps like toISOString: every day around the leap-year rules, random ones across years 0000-9999 and beyond', () => {
    const e = { ...randomEvent(), fields: [], resources: [], subjects: [] };
    const w = new LeafWriter();
    const dayMs = 86_400_000;
    const check = (t: number) => {
      const at = new Date(t);
      const got = outcome(() => w.event({ ...e, occurred_at: at }).bytes());
      const iso = outcome(() => Buffer.from(`"${at.toISOString()}"`));
      if (!got.includes(iso.slice(2, -2))) expect(got).toContain(iso);
    };
    for (const [from, to] of [[0, 5], [1599, 1602], [1699, 1702], [1899, 1902], [1968, 2105], [2399, 2402], [9995, 10_001]]) {
      const start = Date.UTC(2000, 0, 1) + (from - 2000) * 365.2425 * dayMs;
      const end = Date.UTC(2000, 0, 1) + (to - 2000) * 365.2425 * dayMs;
      for (let ms = Math.floor(start / dayMs) * dayMs; ms < end; ms += dayMs) check(ms + r.int(0, dayMs - 1));
    }
    for (let i = 0; i < 50_000; i++) check(r.int(-62_167_219_200_000 - 1e11, 253_402_300_800_000 + 1e11));
    for (const t of [-62_167_219_200_000, -62_167_219_200_001, 253_402_300_799_999, 253_402_300_800_000, 0, -1, 8.64e15, -8.64e15, 8.64e15 + 1, NaN]) check(t);
  });

  it('reads PostgreSQL timestamp text exactly like pgTimestamp', () => {
    const w = new LeafWriter();
    const e = randomEvent();
    for (let i = 0; i < 5_000; i++) {
      const s = randomTime();
      const t = typeof s === 'string' ? s : pgText(Number.isNaN(s.getTime()) || Math.abs(s.getTime()) > 8.64e15 ? 0 : s.getTime());
      const ev = { ...e, occurred_at: t };
      const [got, expected] = [outcome(() => w.event(ev).bytes()), outcome(() => reference(ev))];
      if (got !== expected) expect(got).toBe(expected);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// From binary COPY fields: encode random events the way PostgreSQL sends them, decode them the way
// the verifier always has, and compare.
// ---------------------------------------------------------------------------------------------

type Text = Buffer | null;
type TextArray = (Text | TextArray)[];

/** Text as bytes: mostly valid UTF-8, sometimes not (decoded with replacement characters). */
function randomText(): Buffer {
  const s = Buffer.from(randomString(), 'utf8');
  if (r.int(0, 15) !== 0) return s;
  const bad = r.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0x80]]);
  return Buffer.concat([s, Buffer.from(bad), Buffer.from('x')]);
}

function randomTextArray(depth = 0): TextArray {
  if (depth === 0 && r.int(0, 10) === 0) { // 2-D: equal lengths
    const inner = r.int(1, 3);
    return Array.from({ length: r.int(1, 3) }, () => Array.from({ length: inner }, () => (r.int(0, 6) === 0 ? null : randomText())));
  }
  return list(() => (r.int(0, 12) === 0 ? null : randomText()));
}

class Row {
  private parts: Buffer[] = [];
  private size = 0;
  readonly off: number[] = [];
  readonly len: number[] = [];
  field(bytes: Buffer | null): this {
    const head = Buffer.alloc(4);
    head.writeInt32BE(bytes ? bytes.length : -1);
    this.parts.push(head);
    this.size += 4;
    this.off.push(this.size);
    this.len.push(bytes ? bytes.length : -1);
    if (bytes) { this.parts.push(bytes); this.size += bytes.length; }
    return this;
  }
  buffer(): Buffer { return Buffer.concat([...this.parts, Buffer.from('trailing bytes')]); }
}

const uuidBytes = (u: string) => Buffer.from(u.replace(/-/g, ''), 'hex');
const int4 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b; };
const int8 = (v: number | bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(v)); return b; };
/** int8 as the verifier reads it (a double: exact up to 2^53). */
const int8At = (b: Buffer) => b.readInt32BE(0) * 4294967296 + b.readUInt32BE(4);
function arrayBytes(a: TextArray): Buffer {
  if (a.length === 0) return Buffer.concat([int4(0), int4(0), int4(25)]);
  const dims: number[] = [];
  for (let x: TextArray | Text = a; Array.isArray(x); x = x[0] as TextArray | Text) dims.push(x.length);
  const leaves = (a as unknown[]).flat(dims.length) as Text[];
  return Buffer.concat([
    int4(dims.length), int4(leaves.includes(null) ? 1 : 0), int4(25), ...dims.flatMap((d) => [int4(d), int4(1)]),
    ...leaves.flatMap((t) => (t ? [int4(t.length), t] : [int4(-1)])),
  ]);
}
const decoded = (a: TextArray): unknown[] => a.map((x) => (Array.isArray(x) ? decoded(x) : x === null ? null : x.toString('utf8')));
const uuidText = (b: Buffer) => { const h = b.toString('hex'); return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`; };

interface BinaryCase { row: Buffer; off: Int32Array; len: Int32Array; subjects: BinarySubjects; expected: EventRecord }

function randomBinary(): BinaryCase {
  const text = () => (r.int(0, 20) === 0 ? null : randomText());
  const us: number | bigint = r.pick<() => number | bigint>([
    () => 848_000_000_000_000 + r.int(0, 1e12),
    () => r.int(-63_000_000_000, 63_000_000_000) * 1_000_000 + r.int(0, 999_999),
    () => r.pick<number | bigint>([0, -1, 999, -1000, -1001, -PG_EPOCH_US - 62_167_219_200_000_000, -PG_EPOCH_US - 62_167_219_200_000_001,
      252_455_615_999_999_999n, 252_455_616_000_000_000n, 2n ** 63n - 1n, -(2n ** 63n)]),
  ])();
  const id = uuidBytes(randomUuid());
  const tenant = uuidBytes(randomUuid());
  const occurredNull = r.int(0, 30) === 0;
  const t = { request_id: text(), operation_type: text(), operation_name: text(), root_field: text(), access_kind: text(), purpose: text(),
    actor_kind: text(), actor_role: text(), credential_id: text(), outcome: text(), error_code: text() };
  const fields = r.int(0, 40) === 0 ? null : randomTextArray();
  const resources = r.int(0, 40) === 0 ? null : randomTextArray();
  const pseudonym = maybe(() => uuidBytes(randomUuid()));
  const itemCount = maybe(randomInt);
  const ip = maybe(randomBytes);
  const ua = maybe(() => randomBytes(300));
  const row = new Row().field(Buffer.from('k')).field(null) // fields before the event's, as in the verifier's query
    .field(id).field(tenant).field(occurredNull ? null : int8(us)).field(t.request_id).field(t.operation_type).field(t.operation_name)
    .field(t.root_field).field(fields && arrayBytes(fields)).field(t.access_kind).field(t.purpose).field(t.actor_kind).field(t.actor_role)
    .field(pseudonym).field(t.credential_id).field(resources && arrayBytes(resources)).field(t.outcome).field(t.error_code)
    .field(itemCount === null ? null : int4(itemCount)).field(ip).field(ua).field(Buffer.from([1]));

  // Subjects: a buffer of other rows, this event's somewhere in the middle.
  const subjectRows = list(() => ({ p: uuidBytes(r.pick(POOL)), cats: r.int(0, 30) === 0 ? null : randomTextArray() }), 5);
  const before = r.int(0, 2);
  const srow = new Row();
  for (let i = 0; i < before; i++) srow.field(uuidBytes(randomUuid())).field(arrayBytes([Buffer.from('other')]));
  for (const s of subjectRows) srow.field(s.p).field(s.cats && arrayBytes(s.cats));
  const sbuf = srow.buffer();
  const subjects: BinarySubjects = {
    buf: sbuf, off: Int32Array.from(srow.off), len: Int32Array.from(srow.len), stride: 2, first: before, count: subjectRows.length,
    pseudonym: 0, categories: 1,
  };
  const str = (b: Text) => (b === null ? null : b.toString('utf8'));
  const expected = {
    id: uuidText(id), tenant_id: uuidText(tenant), occurred_at: new Date(Math.floor(((occurredNull ? 0 : int8At(int8(us))) + PG_EPOCH_US) / 1000)),
    request_id: str(t.request_id), operation_type: str(t.operation_type), operation_name: str(t.operation_name), root_field: str(t.root_field),
    fields: fields && decoded(fields), access_kind: str(t.access_kind), purpose: str(t.purpose), actor_kind: str(t.actor_kind), actor_role: str(t.actor_role),
    actor_pseudonym: pseudonym && uuidText(pseudonym), credential_id: str(t.credential_id), resources: resources && decoded(resources), outcome: str(t.outcome),
    error_code: str(t.error_code), item_count: itemCount, actor_ip: ip, actor_user_agent: ua,
    subjects: subjectRows.map((s) => [uuidText(s.p), s.cats ? decoded(s.cats) : []]),
  } as unknown as EventRecord;
  return { row: row.buffer(), off: Int32Array.from(row.off), len: Int32Array.from(row.len), subjects, expected };
}

describe('LeafWriter from binary COPY fields', () => {
  it('writes the same bytes as JSON.stringify over what the verifier decoded', () => {
    const w = new LeafWriter();
    for (let i = 0; i < 5_000; i++) {
      const c = randomBinary();
      const expected = outcome(() => reference(c.expected));
      const got = outcome(() => w.binaryEvent(c.row, c.off, c.len, 2, c.subjects).bytes());
      if (got !== expected) expect(got).toBe(expected);
      if (!expected.startsWith('throws') && !w.hash().equals(leafHash(reference(c.expected)))) expect(c.expected).toBe('hashed differently');
    }
  });
});
