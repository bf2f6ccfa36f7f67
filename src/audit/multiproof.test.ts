import { createHash, randomBytes } from 'node:crypto';
import {
  append, Hash, inclusionProof, inclusionProofIds, leafHash, NodeId, nodeKey, rootFrom, StoredNode, verifyInclusion,
} from './merkle';
import { multiProof, multiProofIds, verifyMultiProof } from './multiproof';
import { prng } from '../shared/prng';

const hex = (h: Buffer) => h.toString('hex');
const hexes = (hs: Buffer[]) => hs.map(hex);
const flip = (h: Buffer, bit: number) => { const c = Buffer.from(h); c[bit >> 3] ^= 1 << (bit & 7); return c; };

// ---------------------------------------------------------------------------------------------
// Naive reference: RFC 6962 §2.1 MTH over the data list, and the multiproof written as the literal
// recursion over D (own SHA-256, nothing shared with the library).
// ---------------------------------------------------------------------------------------------
const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const k = (n: number) => { let p = 1; while (p * 2 < n) p *= 2; return p; }; // largest power of 2 < n
function MTH(D: Buffer[]): Buffer {
  if (D.length === 1) return sha(Buffer.from([0]), D[0]);
  const s = k(D.length);
  return sha(Buffer.from([1]), MTH(D.slice(0, s)), MTH(D.slice(s)));
}
/** Left half's elements, then right half's; a half without listed leaves is its MTH. */
function MPROOF(idx: number[], D: Buffer[]): Buffer[] {
  if (D.length === 1) return [];
  const s = k(D.length);
  const left = idx.filter((i) => i < s), right = idx.filter((i) => i >= s).map((i) => i - s);
  if (right.length === 0) return [...MPROOF(left, D.slice(0, s)), MTH(D.slice(s))];
  if (left.length === 0) return [...MPROOF(right, D.slice(s)), MTH(D.slice(0, s))];
  return [...MPROOF(left, D.slice(0, s)), ...MPROOF(right, D.slice(s))];
}
/** The recursion's shape: two (indices, size) claims with the same shape make the verifier compute the same hashes. */
function shape(idx: number[], n: number): string {
  if (n === 1) return '.';
  const s = k(n);
  const left = idx.filter((i) => i < s), right = idx.filter((i) => i >= s).map((i) => i - s);
  if (right.length === 0) return `(${shape(left, s)} P)`;
  if (left.length === 0) return `(P ${shape(right, n - s)})`;
  return `(${shape(left, s)} ${shape(right, n - s)})`;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------
const data = (i: number) => Buffer.from(`access-log-entry-${i}`);

function build(n: number) {
  const store = new Map<string, Hash>();
  let state = { size: 0, frontier: [] as StoredNode[], nodes: [] as StoredNode[] };
  while (state.size < n) {
    const batch = Array.from({ length: Math.min(10_000, n - state.size) }, (_, j) => leafHash(data(state.size + j)));
    state = append(state.size, state.frontier, batch);
    for (const nd of state.nodes) store.set(nodeKey(nd), nd.hash);
  }
  return store;
}

/** A node source that answers only for complete subtrees of a tree of `size` and records what it served. */
function guarded(store: Map<string, Hash>, size: number) {
  const served: NodeId[] = [];
  const get = (id: NodeId) => {
    expect((id.index + 1) * 2 ** id.level).toBeLessThanOrEqual(size);
    served.push(id);
    const h = store.get(nodeKey(id));
    if (!h) throw new Error(`missing ${nodeKey(id)}`);
    return h;
  };
  return { get, served };
}

/** `count` distinct sorted indices in [0, size), from a seeded generator. */
function pickIndices(rand: ReturnType<typeof prng>, size: number, count: number): number[] {
  const set = new Set<number>();
  while (set.size < Math.min(count, size)) set.add(rand.int(0, size - 1));
  return [...set].sort((a, b) => a - b);
}

const leavesAt = (indices: number[]) => indices.map((index) => ({ index, hash: leafHash(data(index)) }));

const N = 70;
const D70 = Array.from({ length: N }, (_, i) => data(i));
const T70 = build(N);

// ---------------------------------------------------------------------------------------------
// Correctness
// ---------------------------------------------------------------------------------------------
describe('agrees with the RFC 6962 reference', () => {
  it('every size 1..70, many index sets each: the literal recursion, the root, and exactly the named nodes', () => {
    const rand = prng(6962);
    let checked = 0;
    for (let n = 1; n <= N; n++) {
      const root = MTH(D70.slice(0, n));
      expect(hex(rootFrom(n, T70))).toBe(hex(root));
      const sets = [[0], [n - 1], Array.from({ length: n }, (_, i) => i)];
      for (let t = 0; t < 12; t++) sets.push(pickIndices(rand, n, rand.int(1, n)));
      for (const idx of sets) {
        const g = guarded(T70, n);
        const ids = multiProofIds(idx, n);
        const proof = multiProof(idx, n, g.get);
        expect(hexes(proof)).toEqual(hexes(MPROOF(idx, D70.slice(0, n))));
        expect(new Set(g.served.map(nodeKey))).toEqual(new Set(ids.map(nodeKey)));
        expect(new Set(ids.map(nodeKey)).size).toBe(ids.length); // deduplicated
        expect(verifyMultiProof(leavesAt(idx), n, proof, root)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe(N * 15);
  });

  it('random sizes up to 20,000 (not only powers of two): proofs from a Map holding only multiProofIds nodes', () => {
    const rand = prng(20_000);
    const big = build(20_000);
    const sizes = [1, 2, 3, 1024, 1025, 4095, 16_384, 16_385, 19_999, 20_000];
    for (let t = 0; t < 40; t++) sizes.push(rand.int(1, 20_000));
    for (const n of sizes) {
      const root = rootFrom(n, big);
      for (const count of [1, 2, 7, rand.int(1, 300)]) {
        const idx = pickIndices(rand, n, count);
        const only = new Map(multiProofIds(idx, n).map((id) => [nodeKey(id), big.get(nodeKey(id))!] as const));
        const proof = multiProof(idx, n, only);
        expect(verifyMultiProof(leavesAt(idx), n, proof, root)).toBe(true);
        const inOrder = multiProofIds(idx, n).map((id) => big.get(nodeKey(id))!);
        expect(multiProof(idx, n, { hashes: inOrder })).toEqual(proof);
        expect(() => multiProof(idx, n, { hashes: [...inOrder, inOrder[0] ?? big.get('0:0')!] })).toThrow(/reads \d+ stored nodes, \d+ were given/);
      }
    }
  });

  it('with one index it is the single inclusion proof: same node set (and order), same hashes', () => {
    for (let n = 1; n <= N; n++) {
      for (let i = 0; i < n; i++) {
        expect(multiProofIds([i], n)).toEqual(inclusionProofIds(i, n));
        const proof = multiProof([i], n, T70);
        expect(hexes(proof)).toEqual(hexes(inclusionProof(i, n, T70)));
        expect(verifyInclusion(leafHash(data(i)), i, n, proof, rootFrom(n, T70))).toBe(true);
      }
    }
  });

  it('needs no proof for every leaf of the tree, and one element for all but one', () => {
    const all = Array.from({ length: 37 }, (_, i) => i);
    expect(multiProof(all, 37, T70)).toEqual([]);
    expect(verifyMultiProof(leavesAt(all), 37, [], rootFrom(37, T70))).toBe(true);
    const allButLast = all.slice(0, 36);
    expect(multiProof(allButLast, 37, T70)).toEqual([leafHash(data(36))]);
  });

  it('shares nodes: 1,000 random events of a 2^20 tree need far fewer nodes than 1,000 paths', () => {
    const rand = prng(42);
    const n = 2 ** 20 + 12_345;
    const idx = pickIndices(rand, n, 1000);
    const ids = multiProofIds(idx, n);
    const separate = idx.reduce((sum, i) => sum + inclusionProofIds(i, n).length, 0);
    expect(ids.length).toBeLessThan(separate * 0.6);
    for (const id of ids) expect((id.index + 1) * 2 ** id.level).toBeLessThanOrEqual(n); // complete subtrees only
  });
});

// All-equal leaves make every node at level L the same hash: trees of 2^40+ leaves in O(1) per node.
describe('sizes beyond 2^32', () => {
  const uniform: Hash[] = [leafHash(Buffer.from('x'))];
  for (let l = 1; l < 60; l++) {
    uniform.push(createHash('sha256').update(Buffer.from([1])).update(uniform[l - 1]).update(uniform[l - 1]).digest());
  }
  const node = (id: NodeId) => uniform[id.level];

  it.each([2 ** 32 + 1, 2 ** 40 + 12345, 2 ** 52 + 3])('size %i', (n) => {
    const root = rootFrom(n, node);
    const idx = [...new Set([0, 2 ** 31, 2 ** 32 - 1, 2 ** 32, n - 2, n - 1])].sort((a, b) => a - b);
    const proof = multiProof(idx, n, node);
    for (const id of multiProofIds(idx, n)) expect((id.index + 1) * 2 ** id.level).toBeLessThanOrEqual(n);
    expect(verifyMultiProof(idx.map((index) => ({ index, hash: uniform[0] })), n, proof, root)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Rejection
// ---------------------------------------------------------------------------------------------
describe('generation rejects bad arguments', () => {
  it('throws on duplicate, unsorted, out-of-range or no indices, bad sizes and missing nodes', () => {
    expect(() => multiProofIds([1, 1], 5)).toThrow(/strictly increasing/);
    expect(() => multiProofIds([3, 1], 5)).toThrow(/strictly increasing/);
    expect(() => multiProofIds([5], 5)).toThrow(RangeError);
    expect(() => multiProofIds([-1], 5)).toThrow(RangeError);
    expect(() => multiProofIds([1.5], 5)).toThrow(RangeError);
    expect(() => multiProofIds([], 5)).toThrow(/at least one/);
    expect(() => multiProofIds([0], 0)).toThrow(RangeError);
    expect(() => multiProof([1, 1], 5, T70)).toThrow(RangeError);
    expect(() => multiProof([0, 3], 10, new Map())).toThrow(/missing/);
  });
});

describe('verification rejects', () => {
  const rand = prng(9162);
  const cases: { n: number; idx: number[] }[] = [];
  for (let n = 2; n <= N; n++) for (let t = 0; t < 4; t++) cases.push({ n, idx: pickIndices(rand, n, rand.int(1, Math.min(n - 1, 9))) });

  it('extra or missing elements, flipped bits, reordering, a swapped or altered leaf hash, a moved index, another root', () => {
    let probes = 0;
    for (const { n, idx } of cases) {
      const root = rootFrom(n, T70);
      const leaves = leavesAt(idx);
      const proof = multiProof(idx, n, T70);
      expect(verifyMultiProof(leaves, n, proof, root)).toBe(true);
      const must = (desc: string, l: typeof leaves, p: Buffer[], r = root) => {
        probes++;
        if (verifyMultiProof(l, n, p, r)) throw new Error(`accepted ${desc} for ${JSON.stringify(idx)} of ${n}`);
      };
      proof.forEach((h, j) => {
        must(`flip bit 0 of [${j}]`, leaves, proof.map((x, i) => (i === j ? flip(x, 0) : x)));
        must(`flip bit 255 of [${j}]`, leaves, proof.map((x, i) => (i === j ? flip(x, 255) : x)));
        must(`without [${j}]`, leaves, proof.filter((_, i) => i !== j));
        must(`[${j}] twice`, leaves, [...proof.slice(0, j + 1), ...proof.slice(j)]);
        must(`[${j}] truncated`, leaves, proof.map((x, i) => (i === j ? x.subarray(0, 31) : x)));
      });
      must('extra at end', leaves, [...proof, randomBytes(32)]);
      must('extra at front', leaves, [randomBytes(32), ...proof]);
      if (proof.length > 1 && !proof[0].equals(proof[proof.length - 1])) must('reversed', leaves, [...proof].reverse());
      if (proof.length > 0) must('empty proof', leaves, []);
      leaves.forEach((leaf, j) => {
        must(`flipped leaf ${leaf.index}`, leaves.map((x, i) => (i === j ? { ...x, hash: flip(x.hash, 3) } : x)), proof);
        must(`leaf ${leaf.index} replaced by another leaf's hash`,
          leaves.map((x, i) => (i === j ? { ...x, hash: leafHash(data((x.index + 1) % n)) } : x)), proof);
        const moved = leaf.index + 1;
        if (moved < n && !idx.includes(moved)) {
          must(`leaf ${leaf.index} moved to ${moved}`, leaves.map((x, i) => (i === j ? { ...x, index: moved } : x)), proof);
        }
      });
      if (leaves.length > 1) {
        const swapped = leaves.map((x, i) => (i === 0 ? { ...x, hash: leaves[1].hash } : i === 1 ? { ...x, hash: leaves[0].hash } : x));
        must('two leaf hashes swapped', swapped, proof);
        must('leaves unsorted', [leaves[1], leaves[0], ...leaves.slice(2)], proof);
      }
      must('a leaf listed twice', [leaves[0], ...leaves], proof);
      must('another root', leaves, proof, rootFrom(n === N ? n - 1 : n + 1, T70));
      must('flipped root', leaves, proof, flip(root, 100));
    }
    expect(probes).toBeGreaterThan(5_000);
  });

  it('a wrong size, unless it gives the proof the very same shape (the size is bound by the signed root)', () => {
    let probes = 0, sameShape = 0;
    for (const { n, idx } of cases) {
      const root = rootFrom(n, T70);
      const proof = multiProof(idx, n, T70);
      for (const m of [n - 1, n + 1, 2 * n, Math.floor(n / 2), idx[idx.length - 1]]) {
        if (m === n || m < 1) continue;
        const identical = idx[idx.length - 1] < m && shape(idx, m) === shape(idx, n);
        expect(verifyMultiProof(leavesAt(idx), m, proof, root)).toBe(identical);
        probes++; if (identical) sameShape++;
      }
    }
    expect(probes).toBeGreaterThan(1000);
    expect(sameShape).toBeLessThan(probes / 2);
  });

  it('never throws on garbage', () => {
    const anyVerify = verifyMultiProof as (...a: unknown[]) => boolean;
    const idx = [1, 4, 9];
    const good = multiProof(idx, 12, T70);
    const root = rootFrom(12, T70);
    const leaves = leavesAt(idx);
    expect(anyVerify(leaves, 12, good, root)).toBe(true);
    const bad: unknown[] = [undefined, null, NaN, -1, 1.5, Infinity, 2 ** 60, '3', {}, [], 'x'.repeat(32)];
    for (const g of bad) {
      expect(anyVerify(g, 12, good, root)).toBe(false);
      expect(anyVerify([g], 12, good, root)).toBe(false);
      expect(anyVerify([{ index: g, hash: leaves[0].hash }, ...leaves.slice(1)], 12, good, root)).toBe(false);
      expect(anyVerify([{ index: 1, hash: g }, ...leaves.slice(1)], 12, good, root)).toBe(false);
      expect(anyVerify(leaves, g, good, root)).toBe(false);
      expect(anyVerify(leaves, 12, g, root)).toBe(false);
      expect(anyVerify(leaves, 12, [...good.slice(1), g], root)).toBe(false);
      expect(anyVerify(leaves, 12, good, g)).toBe(false);
    }
    expect(anyVerify([], 12, [], root)).toBe(false); // proves nothing
  });
});

describe('an export-sized proof', () => {
  it('5,000 events of a 70,000-leaf tree: ids from a lookup, proof verifies, far smaller than separate paths', () => {
    const n = 70_001;
    const store = build(n);
    const idx = pickIndices(prng(7), n, 5000);
    const proof = multiProof(idx, n, store);
    const separate = idx.reduce((sum, i) => sum + inclusionProofIds(i, n).length, 0);
    expect(proof.length).toBeLessThan(separate / 2);
    expect(verifyMultiProof(leavesAt(idx), n, proof, rootFrom(n, store))).toBe(true);
  });
});
