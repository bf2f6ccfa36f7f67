import crypto, { createHash } from 'node:crypto';
import { pgTimestamp } from '../db/timestamps';
import { LEAF_FORMAT, leafBytes, type EventRecord } from './leaf';
import type { Hash } from './merkle';

/**
 * `leafBytes` without JSON.stringify: the same bytes, written straight into one reusable buffer, from
 * an EventRecord (the sealer) or from PostgreSQL's binary COPY fields (the verifier, which then builds
 * no strings or objects per event). `leafBytes` stays the definition; leaf-writer.test.ts holds the
 * two to byte equality.
 *
 * Plain ASCII (no `"`, `\` or control characters), uuids, timestamps of years 0000-9999, integers and
 * base64 are written byte by byte; anything else goes through JSON.stringify, so its escaping
 * (lone surrogates included) is JSON.stringify's own. Inputs of an unexpected shape take the reference
 * path whole.
 */

const oneShot = (crypto as unknown as { hash?: (alg: string, data: Buffer, enc: 'latin1') => string }).hash;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
const FORMAT = Buffer.from(`[${JSON.stringify(LEAF_FORMAT)},`, 'latin1');
const DAY_MS = 86_400_000;
/** toISOString's four-digit years: [0000-01-01, 10000-01-01). */
const MIN_MS = -62_167_219_200_000;
const MAX_MS = 253_402_300_800_000;
/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
export const PG_EPOCH_US = 946_684_800_000_000;

/** JSON.stringify writes these characters as they are (and the rest of the string would be ASCII). */
const plain = (c: number) => c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c;
/** 1 for the bytes `plain` accepts: a table lookup per byte in the hot loops. */
const PLAIN = Uint8Array.from({ length: 256 }, (_, c) => (plain(c) ? 1 : 0));

/**
 * An event's subjects in binary COPY rows: subject i is row first + i, whose field k is
 * buf[off[(first + i) * stride + k], … + len[…]) (len -1: NULL).
 */
export interface BinarySubjects {
  buf: Buffer;
  off: Int32Array;
  len: Int32Array;
  stride: number;
  first: number;
  count: number;
  /** The fields holding the pseudonym (uuid) and the categories (text[]). */
  pseudonym: number;
  categories: number;
}

export class LeafWriter {
  /** buf[0] is RFC 6962's leaf prefix 0x00; the leaf bytes follow, up to `length`. */
  buf = Buffer.allocUnsafe(4096);
  length = 1;
  private order = new Int32Array(64);
  /** `timestamp`'s last day and its YYYY-MM-DD. */
  private day = NaN;
  private readonly date = Buffer.alloc(10);
  private spans = new Int32Array(128);

  constructor() { this.buf[0] = 0; }

  /** A copy of the leaf bytes. */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(1, this.length));
  }

  /** SHA-256(0x00 || leaf bytes) as a 32-character latin1 string (a Buffer result costs ~1 µs more per call in node:crypto). */
  hashLatin1(): string {
    const data = this.buf.subarray(0, this.length);
    return oneShot ? oneShot('sha256', data, 'latin1') : createHash('sha256').update(data).digest().toString('latin1');
  }

  /** The leaf hash (RFC 6962: SHA-256(0x00 || leaf bytes)). */
  hash(): Hash {
    return Buffer.from(this.hashLatin1(), 'latin1');
  }

  // ---- an EventRecord (the same bytes as leafBytes) ----

  event(e: EventRecord): this {
    this.length = 1;
    if (!Array.isArray(e.fields) || !Array.isArray(e.resources) || !this.subjectsPlain(e.subjects)) return this.raw(leafBytes(e));
    this.raw(FORMAT);
    this.value(e.id); this.comma();
    this.value(e.tenant_id); this.comma();
    const t = e.occurred_at;
    if (t instanceof Date) this.timestamp(t.getTime());
    else if (typeof t !== 'string' || !this.pgText(t)) this.value(pgTimestamp(t).toISOString());
    this.comma();
    this.value(e.request_id); this.comma();
    this.value(e.operation_type); this.comma();
    this.value(e.operation_name); this.comma();
    this.value(e.root_field); this.comma();
    this.values(e.fields); this.comma();
    this.value(e.access_kind); this.comma();
    this.value(e.purpose); this.comma();
    this.value(e.actor_kind); this.comma();
    this.value(e.actor_role); this.comma();
    this.value(e.actor_pseudonym); this.comma();
    this.value(e.credential_id); this.comma();
    this.values(e.resources); this.comma();
    this.value(e.outcome); this.comma();
    this.value(e.error_code); this.comma();
    this.value(e.item_count); this.comma();
    this.base64Of(e.actor_ip); this.comma();
    this.base64Of(e.actor_user_agent); this.comma();
    this.subjectsOf(e.subjects);
    this.byte(0x5d);
    return this;
  }

  /** Subjects this path sorts like leafBytes does: [string, string[]] pairs (anything else takes leafBytes whole). */
  private subjectsPlain(subjects: unknown): boolean {
    if (!Array.isArray(subjects)) return false;
    for (const s of subjects) {
      if (!Array.isArray(s) || typeof s[0] !== 'string' || !Array.isArray(s[1])) return false;
      for (const c of s[1]) if (typeof c !== 'string') return false;
    }
    return true;
  }

  private subjectsOf(subjects: [string, string[]][]): void {
    let list = subjects;
    for (let i = 1; i < list.length; i++) {
      if (list[i - 1][0] > list[i][0]) { // not in order yet: leafBytes' (stable) sort
        list = [...subjects].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        break;
      }
    }
    this.byte(0x5b);
    for (let i = 0; i < list.length; i++) {
      if (i) this.comma();
      let cats = list[i][1];
      for (let k = 1; k < cats.length; k++) if (cats[k - 1] > cats[k]) { cats = [...cats].sort(); break; }
      this.byte(0x5b);
      this.str(list[i][0]);
      this.comma();
      this.values(cats);
      this.byte(0x5d);
    }
    this.byte(0x5d);
  }

  /** "YYYY-MM-DD HH:MM:SS[.f[f[f]]]+00" (PostgreSQL's text in UTC) as toISOString writes it; false for anything else. */
  private pgText(s: string): boolean {
    const n = s.length;
    if (n < 22 || n > 26 || s.charCodeAt(n - 3) !== 0x2b || s.charCodeAt(n - 2) !== 0x30 || s.charCodeAt(n - 1) !== 0x30) return false;
    if (s.charCodeAt(4) !== 0x2d || s.charCodeAt(7) !== 0x2d || s.charCodeAt(10) !== 0x20 || s.charCodeAt(13) !== 0x3a || s.charCodeAt(16) !== 0x3a) return false;
    const d = (i: number) => digit(s, i);
    const year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3);
    const month = d(5) * 10 + d(6);
    const day = d(8) * 10 + d(9);
    const ok = year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)
      && d(11) * 10 + d(12) <= 23 && d(14) * 10 + d(15) <= 59 && d(17) * 10 + d(18) <= 59;
    if (!ok) return false; // NaN fails too
    const frac = n - 22; // 0, or a dot and 1-3 digits
    if (frac === 1) return false;
    if (frac > 0 && s.charCodeAt(19) !== 0x2e) return false;
    for (let i = 20; i < n - 3; i++) if (Number.isNaN(d(i))) return false;
    this.ensure(26);
    const buf = this.buf;
    let p = this.length;
    buf[p++] = 0x22;
    for (let i = 0; i < 19; i++) buf[p++] = i === 10 ? 0x54 : s.charCodeAt(i);
    buf[p++] = 0x2e;
    for (let i = 0; i < 3; i++) buf[p++] = 20 + i < n - 3 ? s.charCodeAt(20 + i) : 0x30;
    buf[p++] = 0x5a;
    buf[p++] = 0x22;
    this.length = p;
    return true;
  }

  private base64Of(b: Buffer | null): void {
    if (Buffer.isBuffer(b)) this.base64(b, 0, b.length);
    else if (!b) this.nul();
    else this.value((b as { toString(enc: string): unknown }).toString('base64'));
  }

  // ---- PostgreSQL binary COPY fields (the verifier) ----

  /**
   * The leaf of an event whose columns are fields first … first+19 of a binary COPY row (EVENT_FIELDS'
   * order; field i is buf[off[i], off[i] + len[i]), len -1 for NULL), decoded as the verifier always
   * did: occurred_at floored to the millisecond (0 when NULL), a NULL item_count as null, a NULL
   * fields or resources throws (leafBytes cannot spread null), a NULL categories is [].
   */
  binaryEvent(b: Buffer, off: Int32Array, len: Int32Array, first: number, s: BinarySubjects): this {
    this.length = 1;
    const f = first;
    this.raw(FORMAT);
    this.uuid(b, off[f]); this.comma();
    this.uuid(b, off[f + 1]); this.comma();
    this.timestamp(Math.floor(((len[f + 2] >= 0 ? int64At(b, off[f + 2]) : 0) + PG_EPOCH_US) / 1000)); this.comma();
    this.text(b, off[f + 3], len[f + 3]); this.comma();
    this.text(b, off[f + 4], len[f + 4]); this.comma();
    this.text(b, off[f + 5], len[f + 5]); this.comma();
    this.text(b, off[f + 6], len[f + 6]); this.comma();
    this.textArray(b, off[f + 7], len[f + 7]); this.comma();
    this.text(b, off[f + 8], len[f + 8]); this.comma();
    this.text(b, off[f + 9], len[f + 9]); this.comma();
    this.text(b, off[f + 10], len[f + 10]); this.comma();
    this.text(b, off[f + 11], len[f + 11]); this.comma();
    if (len[f + 12] < 0) this.nul(); else this.uuid(b, off[f + 12]);
    this.comma();
    this.text(b, off[f + 13], len[f + 13]); this.comma();
    this.textArray(b, off[f + 14], len[f + 14]); this.comma();
    this.text(b, off[f + 15], len[f + 15]); this.comma();
    this.text(b, off[f + 16], len[f + 16]); this.comma();
    if (len[f + 17] < 0) this.nul(); else this.int(i32(b, off[f + 17]));
    this.comma();
    if (len[f + 18] < 0) this.nul(); else this.base64(b, off[f + 18], off[f + 18] + len[f + 18]);
    this.comma();
    if (len[f + 19] < 0) this.nul(); else this.base64(b, off[f + 19], off[f + 19] + len[f + 19]);
    this.comma();
    this.binarySubjects(s);
    this.byte(0x5d);
    return this;
  }

  private binarySubjects(s: BinarySubjects): void {
    const { buf: b, off, len, stride, first, count, pseudonym, categories } = s;
    if (this.order.length < count) this.order = new Int32Array(count * 2);
    const order = this.order;
    // Stable insertion sort by pseudonym: bytes sort like their lowercase hex.
    for (let i = 0; i < count; i++) {
      const o = off[(first + i) * stride + pseudonym];
      let j = i;
      while (j > 0 && compareBytes(b, off[(first + order[j - 1]) * stride + pseudonym], 16, b, o, 16) > 0) { order[j] = order[j - 1]; j--; }
      order[j] = i;
    }
    this.byte(0x5b);
    for (let i = 0; i < count; i++) {
      if (i) this.comma();
      const row = (first + order[i]) * stride;
      this.byte(0x5b);
      this.uuid(b, off[row + pseudonym]);
      this.comma();
      this.categories(b, off[row + categories], len[row + categories]);
      this.byte(0x5d);
    }
    this.byte(0x5d);
  }

  /** A text[] sorted like `[...cats].sort()`: plain ASCII by its bytes (the same order as UTF-16's), anything else as strings. */
  private categories(b: Buffer, o: number, l: number): void {
    if (l < 0) { this.byte(0x5b); this.byte(0x5d); return; }
    const ndim = i32(b, o);
    if (ndim === 0) { this.byte(0x5b); this.byte(0x5d); return; }
    if (ndim !== 1) { this.sortedValues(decodeTextArray(b, o)); return; }
    const n = i32(b, o + 12);
    if (n < 0) { this.sortedValues(decodeTextArray(b, o)); return; }
    if (this.spans.length < 2 * n) this.spans = new Int32Array(4 * n);
    const spans = this.spans;
    let p = o + 20;
    for (let k = 0; k < n; k++) {
      const el = i32(b, p);
      p += 4;
      if (el < 0) { this.sortedValues(decodeTextArray(b, o)); return; }
      let bad = 0;
      for (let i = p; i < p + el; i++) bad |= PLAIN[b[i]] ^ 1;
      if (bad) { this.sortedValues(decodeTextArray(b, o)); return; }
      // Insertion sort of (offset, length) pairs.
      let j = k;
      while (j > 0 && compareBytes(b, spans[2 * j - 2], spans[2 * j - 1], b, p, el) > 0) {
        spans[2 * j] = spans[2 * j - 2]; spans[2 * j + 1] = spans[2 * j - 1]; j--;
      }
      spans[2 * j] = p;
      spans[2 * j + 1] = el;
      p += el;
    }
    this.byte(0x5b);
    for (let k = 0; k < n; k++) {
      if (k) this.comma();
      this.plainText(b, spans[2 * k], spans[2 * k + 1]);
    }
    this.byte(0x5d);
  }

  private sortedValues(v: unknown[] | null): void {
    this.value([...(v ?? [])].sort());
  }

  /** A text[] as the verifier decodes it (nested arrays for 2-D and up); NULL throws, as leafBytes cannot spread null. */
  private textArray(b: Buffer, o: number, l: number): void {
    if (l < 0) throw new TypeError('a NULL text[] where leafBytes expects an array');
    const ndim = i32(b, o);
    if (ndim === 0) { this.byte(0x5b); this.byte(0x5d); return; }
    if (ndim !== 1 || i32(b, o + 12) < 0) { this.value(decodeTextArray(b, o)); return; }
    const n = i32(b, o + 12);
    let p = o + 20;
    this.byte(0x5b);
    for (let k = 0; k < n; k++) {
      if (k) this.comma();
      const el = i32(b, p);
      p += 4;
      this.text(b, p, el);
      if (el > 0) p += el;
    }
    this.byte(0x5d);
  }

  // ---- JSON pieces ----

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  private byte(c: number): void {
    this.ensure(1);
    this.buf[this.length++] = c;
  }

  private comma(): void { this.byte(0x2c); }
  private nul(): void {
    this.ensure(4);
    const buf = this.buf;
    const p = this.length;
    buf[p] = 0x6e; buf[p + 1] = 0x75; buf[p + 2] = 0x6c; buf[p + 3] = 0x6c;
    this.length = p + 4;
  }

  private raw(bytes: Buffer): this {
    this.ensure(bytes.length);
    this.length += bytes.copy(this.buf, this.length);
    return this;
  }

  /** Any value as an element of a JSON.stringify'd array. */
  private value(v: unknown): void {
    if (typeof v === 'string') this.str(v);
    else if (v === null || v === undefined) this.nul();
    else if (typeof v === 'number' && Number.isSafeInteger(v)) this.int(v);
    else this.json(JSON.stringify([v]).slice(1, -1));
  }

  private values(list: unknown[]): void {
    this.byte(0x5b);
    for (let i = 0; i < list.length; i++) {
      if (i) this.comma();
      this.value(list[i]);
    }
    this.byte(0x5d);
  }

  /** A JSON string: plain ASCII byte by byte, anything else as JSON.stringify escapes it. */
  private str(s: string): void {
    const n = s.length;
    this.ensure(n + 2);
    const buf = this.buf;
    let p = this.length;
    buf[p++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (!plain(c)) { this.json(JSON.stringify(s)); return; }
      buf[p++] = c;
    }
    buf[p++] = 0x22;
    this.length = p;
  }

  /** Text from UTF-8 bytes (NULL: null); bytes that are not plain ASCII are decoded as the verifier always did. */
  private text(b: Buffer, o: number, l: number): void {
    if (l < 0) { this.nul(); return; }
    this.ensure(l + 2);
    const buf = this.buf;
    let p = this.length;
    buf[p++] = 0x22;
    let bad = 0; // checked after the copy: no branch per byte
    for (let i = o; i < o + l; i++) {
      const c = b[i];
      bad |= PLAIN[c] ^ 1;
      buf[p++] = c;
    }
    if (bad) { this.str(b.toString('utf8', o, o + l)); return; }
    buf[p++] = 0x22;
    this.length = p;
  }

  /** Text known to be plain ASCII. */
  private plainText(b: Buffer, o: number, l: number): void {
    this.ensure(l + 2);
    const buf = this.buf;
    let p = this.length;
    buf[p++] = 0x22;
    for (let i = o; i < o + l; i++) buf[p++] = b[i];
    buf[p++] = 0x22;
    this.length = p;
  }

  private json(s: string): void {
    this.ensure(3 * s.length);
    this.length += this.buf.write(s, this.length, 'utf8');
  }

  private int(v: number): void {
    if (v < 0) { this.byte(0x2d); v = -v; }
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    this.ensure(digits);
    const buf = this.buf;
    for (let i = this.length + digits - 1; i >= this.length; i--) { buf[i] = 0x30 + (v % 10); v = Math.floor(v / 10); }
    this.length += digits;
  }

  private uuid(b: Buffer, o: number): void {
    this.ensure(38);
    const buf = this.buf;
    let p = this.length;
    buf[p++] = 0x22;
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) buf[p++] = 0x2d;
      const x = b[o + i];
      buf[p++] = HEX[x >> 4];
      buf[p++] = HEX[x & 15];
    }
    buf[p++] = 0x22;
    this.length = p;
  }

  /** Milliseconds since the epoch as toISOString writes them (throwing like it outside its range). */
  private timestamp(ms: number): void {
    if (!(ms >= MIN_MS && ms < MAX_MS)) { this.str(new Date(ms).toISOString()); return; }
    const days = Math.floor(ms / DAY_MS);
    if (days !== this.day) this.setDay(days); // events come in bursts: the date part is usually the last one's
    let t = (ms - days * DAY_MS) | 0; // int32 arithmetic from here on (a double % is a call)
    this.ensure(26);
    const buf = this.buf;
    let p = this.length;
    buf[p++] = 0x22;
    const date = this.date;
    for (let i = 0; i < 10; i++) buf[p++] = date[i];
    buf[p++] = 0x54;
    const msPart = t % 1000; t = ((t - msPart) / 1000) | 0;
    const sec = t % 60; t = ((t - sec) / 60) | 0;
    const min = t % 60;
    p = put2(buf, p, ((t - min) / 60) | 0); buf[p++] = 0x3a;
    p = put2(buf, p, min); buf[p++] = 0x3a;
    p = put2(buf, p, sec); buf[p++] = 0x2e;
    buf[p++] = 0x30 + ((msPart / 100) | 0); p = put2(buf, p, msPart % 100);
    buf[p++] = 0x5a;
    buf[p++] = 0x22;
    this.length = p;
  }

  /** YYYY-MM-DD of a day since 1970-01-01 in years 0000-9999 (H. Hinnant's civil-from-days). */
  private setDay(days: number): void {
    const z = days + 719_468;
    const era = Math.floor(z / 146_097);
    const doe = z - era * 146_097;
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    const d = this.date;
    put2(d, 0, Math.floor(year / 100)); put2(d, 2, year % 100); d[4] = 0x2d;
    put2(d, 5, month); d[7] = 0x2d;
    put2(d, 8, day);
    this.day = days;
  }

  /** b[start, end) in base64 with padding, as Buffer#toString('base64'). */
  private base64(b: Buffer, start: number, end: number): void {
    this.ensure(4 * Math.ceil((end - start) / 3) + 2);
    const buf = this.buf;
    let p = this.length;
    buf[p++] = 0x22;
    if (end - start > 64) { // node's encoder costs ~200 ns a call, this loop ~4 ns a byte
      p += buf.write(b.toString('base64', start, end), p, 'latin1');
      buf[p++] = 0x22;
      this.length = p;
      return;
    }
    let i = start;
    for (; i + 3 <= end; i += 3) {
      const x = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
      buf[p++] = B64[x >> 18]; buf[p++] = B64[(x >> 12) & 63]; buf[p++] = B64[(x >> 6) & 63]; buf[p++] = B64[x & 63];
    }
    if (end - i === 1) {
      const x = b[i] << 16;
      buf[p++] = B64[x >> 18]; buf[p++] = B64[(x >> 12) & 63]; buf[p++] = 0x3d; buf[p++] = 0x3d;
    } else if (end - i === 2) {
      const x = (b[i] << 16) | (b[i + 1] << 8);
      buf[p++] = B64[x >> 18]; buf[p++] = B64[(x >> 12) & 63]; buf[p++] = B64[(x >> 6) & 63]; buf[p++] = 0x3d;
    }
    buf[p++] = 0x22;
    this.length = p;
  }
}

/** Two decimal digits of v (0-99) at buf[p]; returns the next position. */
function put2(buf: Uint8Array, p: number, v: number): number {
  const tens = (v / 10) | 0;
  buf[p] = 0x30 + tens;
  buf[p + 1] = 0x30 + v - 10 * tens;
  return p + 2;
}

/** The decimal digit at s[i], NaN if it is none. */
function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 0x30;
  return c >= 0 && c <= 9 ? c : NaN;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Sign of a[ao, ao+al) vs b[bo, bo+bl), byte by byte, a prefix first. */
export function compareBytes(a: Buffer, ao: number, al: number, b: Buffer, bo: number, bl: number): number {
  const n = al < bl ? al : bl;
  for (let i = 0; i < n; i++) {
    const d = a[ao + i] - b[bo + i];
    if (d !== 0) return d;
  }
  return al - bl;
}

/** readInt32BE without its argument validation, which costs more than the read in the hot loops (callers stay in bounds). */
export const i32 = (b: Buffer, o: number) => (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];

/** A binary int8 as a double (exact up to 2^53): readInt32BE(o) * 2^32 + readUInt32BE(o + 4). */
export const int64At = (b: Buffer, o: number) => i32(b, o) * 4294967296 + (i32(b, o + 4) >>> 0);

/** A binary text[] at b[o…] (any dimensions, like node-postgres' text parser: nested arrays for 2-D and up). */
export function decodeTextArray(b: Buffer, o: number): unknown[] {
  const ndim = b.readInt32BE(o);
  o += 12; // ndim, has-nulls flag, element type
  if (ndim === 0) return [];
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++, o += 8) dims.push(b.readInt32BE(o));
  const read = (d: number): unknown[] => {
    const out: unknown[] = new Array(dims[d]);
    for (let k = 0; k < dims[d]; k++) {
      if (d < ndim - 1) { out[k] = read(d + 1); continue; }
      const l = b.readInt32BE(o);
      o += 4;
      out[k] = l < 0 ? null : b.toString('utf8', o, o + l);
      if (l > 0) o += l;
    }
    return out;
  };
  return read(0);
}

const shared = new LeafWriter();

/** `leafBytes(e)`, faster. */
export function fastLeafBytes(e: EventRecord): Buffer {
  return shared.event(e).bytes();
}

/** `leafHash(leafBytes(e))`, faster. */
export function eventLeafHash(e: EventRecord): Hash {
  return shared.event(e).hash();
}
