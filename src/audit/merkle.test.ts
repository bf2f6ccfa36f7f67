import { createHash, randomBytes } from 'node:crypto';
import {
  append, consistencyProof, consistencyProofIds, EMPTY_ROOT, frontierIds, Hash, inclusionProof, inclusionProofIds,
  leafHash, NodeId, nodeKey, rootFrom, rootIds, StoredNode, verifyConsistency, verifyInclusion,
} from './merkle';
import { prng } from '../shared/prng';

const hex = (h: Buffer) => h.toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex');
const hexes = (hs: Buffer[]) => hs.map(hex);

// ---------------------------------------------------------------------------------------------
// Naive reference: RFC 6962 §2.1 definitions written literally over the data list D (own SHA-256,
// nothing shared with the library).
// ---------------------------------------------------------------------------------------------
const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const k = (n: number) => { let p = 1; while (p * 2 < n) p *= 2; return p; }; // largest power of 2 < n
function MTH(D: Buffer[]): Buffer {
  if (D.length === 0) return sha();
  if (D.length === 1) return sha(Buffer.from([0]), D[0]);
  const s = k(D.length);
  return sha(Buffer.from([1]), MTH(D.slice(0, s)), MTH(D.slice(s)));
}
function PATH(m: number, D: Buffer[]): Buffer[] {
  if (D.length === 1) return [];
  const s = k(D.length);
  return m < s ? [...PATH(m, D.slice(0, s)), MTH(D.slice(s))] : [...PATH(m - s, D.slice(s)), MTH(D.slice(0, s))];
}
function SUBPROOF(m: number, D: Buffer[], b: boolean): Buffer[] {
  const n = D.length;
  if (m === n) return b ? [] : [MTH(D)];
  const s = k(n);
  return m <= s
    ? [...SUBPROOF(m, D.slice(0, s), b), MTH(D.slice(s))]
    : [...SUBPROOF(m - s, D.slice(s), false), MTH(D.slice(0, s))];
}
const PROOF = (m: number, D: Buffer[]) => SUBPROOF(m, D, true);
// The *shape* of a proof (which side each element hashes in from), from the same recursions. Two
// (index, size) claims with the same shape make any RFC 9162 verifier compute the same hashes.
function pathShape(m: number, n: number): string {
  if (n === 1) return '';
  const s = k(n);
  return m < s ? pathShape(m, s) + 'R' : pathShape(m - s, n - s) + 'L';
}
function proofShape(m: number, n: number, b = true): string {
  if (m === n) return b ? '' : 'S';
  const s = k(n);
  return m <= s ? proofShape(m, s, b) + 'R' : proofShape(m - s, n - s, false) + 'L';
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------
const data = (i: number) => Buffer.from(`access-log-entry-${i}`);

/** All stored nodes of a tree built by appending `leaves` one at a time. */
function build(D: Buffer[]) {
  const store = new Map<string, Hash>();
  let state = { size: 0, frontier: [] as StoredNode[] };
  for (const d of D) {
    const r = append(state.size, state.frontier, [leafHash(d)]);
    for (const n of r.nodes) store.set(nodeKey(n), n.hash);
    state = r;
  }
  return { store, ...state };
}

/** A node source that only answers for nodes complete in a tree of `size` and records what it served. */
function guarded(store: Map<string, Hash>, size: number) {
  const served: NodeId[] = [];
  const get = (id: NodeId) => {
    expect((id.index + 1) * 2 ** id.level).toBeLessThanOrEqual(size); // only complete subtrees exist
    served.push(id);
    const h = store.get(nodeKey(id));
    if (!h) throw new Error(`missing ${nodeKey(id)}`);
    return h;
  };
  return { get, served };
}

const bound = (n: number) => 2 * Math.ceil(Math.log2(n)) + 2;
const flip = (h: Buffer, bit: number) => { const c = Buffer.from(h); c[bit >> 3] ^= 1 << (bit & 7); return c; };

// ---------------------------------------------------------------------------------------------
// 1. RFC 6962 reference vectors
// ---------------------------------------------------------------------------------------------
/**
 * From github.com/transparency-dev/merkle proof/verify_test.go (the Go port of Certificate
 * Transparency's merkle_tree_test / testonly/constants.go). Its inclusion vectors are written with
 * 1-based leaf numbers ({1, 8} = leaf 0); below they are 0-based.
 */
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const CT_INCLUSION: [index: number, size: number, proof: string[]][] = [
  [0, 1, []],
  [0, 8, [
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [5, 8, [
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [1, 5, [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  // Not in the CT suite, but forced by it: the path of leaf 1 in a size-2 tree is leaf 0's hash = root(1).
  [1, 2, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d']],
];
const CT_CONSISTENCY: [oldSize: number, newSize: number, proof: string[]][] = [
  [1, 1, []],
  [1, 8, [
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, [
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 5, [
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  [6, 7, [
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
];

describe('RFC 6962 reference vectors (Certificate Transparency test suite)', () => {
  const D = CT_LEAVES.map(unhex);
  const { store } = build(D);
  const rootOf = (n: number) => rootFrom(n, store);

  it('hashes the empty tree to SHA-256("")', () => {
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(rootFrom(0, new Map())).toEqual(EMPTY_ROOT);
    expect(rootIds(0)).toEqual([]);
  });

  it.each(CT_ROOTS.map((r, i) => [i + 1, r] as const))('root of the first %i leaves', (n, expected) => {
    expect(hex(rootOf(n))).toBe(expected);
    expect(hex(MTH(D.slice(0, n)))).toBe(expected); // the reference agrees too
  });

  it.each(CT_INCLUSION)('inclusion proof of leaf %i in size %i', (index, size, expected) => {
    const proof = inclusionProof(index, size, store);
    expect(hexes(proof)).toEqual(expected);
    expect(verifyInclusion(leafHash(D[index]), index, size, expected.map(unhex), rootOf(size))).toBe(true);
  });

  it.each(CT_CONSISTENCY)('consistency proof %i -> %i', (oldSize, newSize, expected) => {
    expect(hexes(consistencyProof(oldSize, newSize, store))).toEqual(expected);
    expect(verifyConsistency(oldSize, newSize, expected.map(unhex), rootOf(oldSize), rootOf(newSize))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Against the literal reference, every size 1..70, every index, every old size
// ---------------------------------------------------------------------------------------------
const N = 70;
const D70 = Array.from({ length: N }, (_, i) => data(i));
const T70 = build(D70);

describe('agrees with the naive RFC 6962 reference for every size 1..70', () => {
  it('roots', () => {
    for (let n = 1; n <= N; n++) {
      const g = guarded(T70.store, n);
      expect(hex(rootFrom(n, g.get))).toBe(hex(MTH(D70.slice(0, n))));
      expect(g.served.map(nodeKey).sort()).toEqual(rootIds(n).map(nodeKey).sort()); // reads exactly the peaks
    }
  });

  it('inclusion proofs for every (index, size), which verify', () => {
    let checked = 0;
    for (let n = 1; n <= N; n++) {
      const root = MTH(D70.slice(0, n));
      for (let i = 0; i < n; i++) {
        const g = guarded(T70.store, n);
        const ids = inclusionProofIds(i, n);
        const proof = inclusionProof(i, n, g.get);
        expect(hexes(proof)).toEqual(hexes(PATH(i, D70.slice(0, n))));
        // The ids are exactly (and only) what generation reads.
        expect(new Set(g.served.map(nodeKey))).toEqual(new Set(ids.map(nodeKey)));
        expect(verifyInclusion(leafHash(D70[i]), i, n, proof, root)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe((N * (N + 1)) / 2);
  });

  it('consistency proofs for every (oldSize, newSize), which verify', () => {
    let checked = 0;
    for (let n = 1; n <= N; n++) {
      const root = MTH(D70.slice(0, n));
      for (let m = 0; m <= n; m++) {
        const g = guarded(T70.store, n);
        const ids = consistencyProofIds(m, n);
        const proof = consistencyProof(m, n, g.get);
        const expected = m === 0 || m === n ? [] : PROOF(m, D70.slice(0, n));
        expect(hexes(proof)).toEqual(hexes(expected));
        expect(new Set(g.served.map(nodeKey))).toEqual(new Set(ids.map(nodeKey)));
        expect(verifyConsistency(m, n, proof, MTH(D70.slice(0, m)), root)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe((N * (N + 3)) / 2);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. append, frontier, and the O(log n) node budget
// ---------------------------------------------------------------------------------------------
describe('append', () => {
  it('builds every complete subtree and nothing else', () => {
    for (let n = 0; n <= N; n++) {
      const { store } = build(D70.slice(0, n));
      let expected = 0;
      for (let w = 1; w <= n; w *= 2) expected += Math.floor(n / w);
      expect(store.size).toBe(expected);
      for (const key of store.keys()) {
        const [level, index] = key.split(':').map(Number);
        expect((index + 1) * 2 ** level).toBeLessThanOrEqual(n);
      }
    }
  });

  it.each([1, 2, 3, 4, 5])('in random batches equals one by one (seed %i), frontier = stored peaks', (seed) => {
    const rnd = prng(seed);
    const total = 300;
    const D = Array.from({ length: total }, (_, i) => data(i * 7 + seed));
    const oneByOne = build(D);
    const batched = new Map<string, Hash>();
    const order: string[] = [];
    let state = { size: 0, frontier: [] as StoredNode[] };
    while (state.size < total) {
      const take = Math.min(rnd.int(0, 40), total - state.size);
      const r = append(state.size, state.frontier, D.slice(state.size, state.size + take).map(leafHash));
      expect(r.size).toBe(state.size + take);
      for (const nd of r.nodes) {
        expect(batched.has(nodeKey(nd))).toBe(false); // each node is produced exactly once
        batched.set(nodeKey(nd), nd.hash);
        order.push(nodeKey(nd));
      }
      // The returned frontier is exactly the stored nodes at frontierIds(newSize).
      expect(r.frontier.map(nodeKey)).toEqual(frontierIds(r.size).map(nodeKey));
      for (const p of r.frontier) expect(hex(p.hash)).toBe(hex(batched.get(nodeKey(p))!));
      expect(hex(rootFrom(r.size, batched))).toBe(hex(rootFrom(r.size, oneByOne.store)));
      state = r;
    }
    expect([...batched.entries()].map(([key, h]) => [key, hex(h)]))
      .toEqual([...oneByOne.store.entries()].map(([key, h]) => [key, hex(h)])); // same nodes, same order
    expect(order.length).toBe(oneByOne.store.size);
  });

  it('rejects a frontier that does not match the size, and bad leaf hashes', () => {
    const { frontier, size } = build(D70.slice(0, 5));
    expect(() => append(size + 1, frontier, [])).toThrow(/frontier/);
    expect(() => append(size, frontier.slice(1), [])).toThrow(/frontier/);
    expect(() => append(size, frontier, [Buffer.alloc(31)])).toThrow(/32 bytes/);
    expect(append(size, frontier, [])).toEqual({ nodes: [], frontier, size });
  });
});

describe('node budget: a proof needs at most 2·⌈log2 n⌉ + 2 stored nodes', () => {
  const check = (ids: NodeId[], n: number) => {
    if (ids.length > bound(n)) throw new Error(`${ids.length} ids > ${bound(n)} for n=${n}`);
    for (const id of ids) if ((id.index + 1) * 2 ** id.level > n) throw new Error(`incomplete ${nodeKey(id)} for n=${n}`);
  };

  it('exhaustively for n ≤ 1024', () => {
    let worst = 0;
    for (let n = 1; n <= 1024; n++) {
      check(rootIds(n), n);
      for (let i = 0; i < n; i++) {
        const a = inclusionProofIds(i, n), b = consistencyProofIds(i, n);
        check(a, n); check(b, n);
        worst = Math.max(worst, a.length - bound(n), b.length - bound(n));
      }
    }
    expect(worst).toBeLessThanOrEqual(0);
  });

  it('sampled up to n = 2^20 (ids only, no tree)', () => {
    const rnd = prng(42);
    const sizes = [2 ** 20, 2 ** 20 - 1, 1_000_000];
    for (let e = 1; e <= 20; e++) sizes.push(2 ** e - 1, 2 ** e, 2 ** e + 1);
    for (let j = 0; j < 300; j++) sizes.push(rnd.int(1, 2 ** 20));
    for (const n of sizes) {
      const k2 = k(n);
      const probes = [0, 1, n - 1, n - 2, k2 - 1, k2, k2 + 1, Math.floor(n / 2)];
      for (let j = 0; j < 30; j++) probes.push(rnd.int(0, n - 1));
      for (const i of probes.filter((x) => x >= 0 && x < n)) {
        check(inclusionProofIds(i, n), n);
        check(consistencyProofIds(i, n), n);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 4. Every mutated proof is rejected
// ---------------------------------------------------------------------------------------------
describe('verification rejects mutated proofs', () => {
  const roots = [EMPTY_ROOT, ...Array.from({ length: N }, (_, i) => rootFrom(i + 1, T70.store))];
  const leaves = D70.map(leafHash);
  const junk = randomBytes(32);

  /** Proof variants that must all fail (given the right leaf/index/size/roots). */
  function mutations(proof: Buffer[], extra: Buffer[]): [string, Buffer[]][] {
    const out: [string, Buffer[]][] = [];
    proof.forEach((h, j) => {
      out.push([`flip bit ${(j * 37) % 256} of [${j}]`, proof.map((x, i) => (i === j ? flip(x, (j * 37) % 256) : x))]);
      out.push([`flip bit 0 of [${j}]`, proof.map((x, i) => (i === j ? flip(x, 0) : x))]);
      out.push([`[${j}] truncated to 31 bytes`, proof.map((x, i) => (i === j ? x.subarray(0, 31) : x))]);
      out.push([`[${j}] extended to 33 bytes`, proof.map((x, i) => (i === j ? Buffer.concat([x, Buffer.alloc(1)]) : x))]);
      out.push([`without [${j}]`, proof.filter((_, i) => i !== j)]);
      out.push([`duplicate [${j}]`, [...proof.slice(0, j + 1), ...proof.slice(j)]]);
    });
    for (const e of [junk, ...extra]) out.push(['extra at end', [...proof, e]], ['extra at front', [e, ...proof]]);
    if (proof.length > 1) out.push(['reversed', [...proof].reverse()]);
    out.push(['empty', []]);
    return out.filter(([, p]) => p.length !== proof.length || p.some((x, i) => !x.equals(proof[i])));
  }

  it('inclusion: index ±1, size ±1, bit flips, extra / missing / wrong-length elements, empty proof', () => {
    let probes = 0, sameShape = 0;
    for (let n = 1; n <= N; n++) {
      const root = roots[n];
      for (let i = 0; i < n; i++) {
        const leaf = leaves[i];
        const proof = inclusionProof(i, n, T70.store);
        const ok = (l: Buffer, idx: number, size: number, p: Buffer[], r: Buffer) => verifyInclusion(l, idx, size, p, r);
        expect(ok(leaf, i, n, proof, root)).toBe(true);
        const must = (desc: string, result: boolean) => { probes++; if (result) throw new Error(`accepted ${desc} for (${i}, ${n})`); };
        must('index - 1', ok(leaf, i - 1, n, proof, root));
        must('index + 1', ok(leaf, i + 1, n, proof, root));
        must('index = size', ok(leaf, n, n, proof, root));
        must('wrong leaf', ok(leaves[(i + 1) % N], i, n, proof, root));
        must('flipped leaf', ok(flip(leaf, 5), i, n, proof, root));
        must('flipped root', ok(leaf, i, n, proof, flip(root, 255)));
        must('other root', ok(leaf, i, n, proof, roots[n === N ? n - 1 : n + 1]));
        must('31-byte root', ok(leaf, i, n, proof, root.subarray(1)));
        for (const [desc, p] of mutations(proof, [root, leaf])) {
          if (n === 1 && desc === 'empty') continue; // the correct proof for size 1 is empty
          must(desc, ok(leaf, i, n, p, root));
        }
        // A different size is rejected unless it gives the proof the very same shape (then the
        // hash computation is identical — see verifyInclusion's doc; the size is bound by the root).
        for (const m of [n - 1, n + 1, 2 * n, Math.floor(n / 2)]) {
          if (m === n) continue;
          const identical = i < m && pathShape(i, m) === pathShape(i, n);
          expect(ok(leaf, i, m, proof, root)).toBe(identical);
          probes++; if (identical) sameShape++;
        }
      }
    }
    expect(probes).toBeGreaterThan(50_000);
    expect(sameShape).toBeGreaterThan(0); // documented, inherent to RFC 6962 proofs
  });

  it('consistency: sizes ±1, swapped roots, bit flips, extra / missing / wrong-length elements, empty proof', () => {
    let probes = 0, sameShape = 0;
    for (let n = 2; n <= N; n++) {
      for (let m = 1; m < n; m++) {
        const proof = consistencyProof(m, n, T70.store);
        const [r1, r2] = [roots[m], roots[n]];
        const ok = (a: number, b: number, p: Buffer[], x: Buffer, y: Buffer) => verifyConsistency(a, b, p, x, y);
        expect(ok(m, n, proof, r1, r2)).toBe(true);
        const must = (desc: string, result: boolean) => { probes++; if (result) throw new Error(`accepted ${desc} for ${m} -> ${n}`); };
        must('swapped roots', ok(m, n, proof, r2, r1));
        must('old root = new root', ok(m, n, proof, r2, r2));
        must('flipped old root', ok(m, n, proof, flip(r1, 9), r2));
        must('flipped new root', ok(m, n, proof, r1, flip(r2, 9)));
        must('sizes swapped', ok(n, m, proof, r1, r2));
        must('old size 0', ok(0, n, proof, r1, r2));
        must('short new root', ok(m, n, proof, r1, r2.subarray(0, 31)));
        for (const [desc, p] of mutations(proof, [r1, r2])) must(desc, ok(m, n, p, r1, r2));
        for (const [a, b] of [[m - 1, n], [m + 1, n], [m, n - 1], [m, n + 1], [m, 2 * n]]) {
          if (a === m && b === n) continue;
          const identical = a > 0 && a < b && proofShape(a, b) === proofShape(m, n);
          expect(ok(a, b, proof, r1, r2)).toBe(identical);
          probes++; if (identical) sameShape++;
        }
      }
    }
    expect(probes).toBeGreaterThan(50_000);
    expect(sameShape).toBeGreaterThan(0);
  });

  it('edge cases: empty proofs only where RFC 9162 allows them', () => {
    const [r0, r1, r5] = [EMPTY_ROOT, roots[1], roots[5]];
    // Inclusion: the empty proof is only valid for size 1 (leaf hash == root).
    expect(verifyInclusion(leaves[0], 0, 1, [], r1)).toBe(true);
    expect(verifyInclusion(leaves[0], 0, 1, [], r5)).toBe(false);
    expect(verifyInclusion(leaves[0], 0, 0, [], r0)).toBe(false);
    expect(verifyInclusion(r0, 0, 0, [], r0)).toBe(false);
    // Consistency, equal sizes: empty proof and equal roots.
    expect(verifyConsistency(5, 5, [], r5, r5)).toBe(true);
    expect(verifyConsistency(5, 5, [], r5, r1)).toBe(false);
    expect(verifyConsistency(5, 5, [r5], r5, r5)).toBe(false);
    // Consistency from the empty tree: empty proof, and the old root must be the empty-tree root.
    expect(verifyConsistency(0, 5, [], r0, r5)).toBe(true);
    expect(verifyConsistency(0, 0, [], r0, r0)).toBe(true);
    expect(verifyConsistency(0, 0, [], r0, r5)).toBe(false);
    expect(verifyConsistency(0, 5, [], r1, r5)).toBe(false);
    expect(verifyConsistency(0, 5, [r0], r0, r5)).toBe(false);
    // Time travel.
    expect(verifyConsistency(5, 1, [], r5, r1)).toBe(false);
  });

  it('never throws on garbage', () => {
    const bad: unknown[] = [undefined, null, NaN, -1, 1.5, Infinity, 2 ** 60, '3', {}, [], 'x'.repeat(32), new Uint8Array(32)];
    const anyVerifyI = verifyInclusion as (...a: unknown[]) => boolean;
    const anyVerifyC = verifyConsistency as (...a: unknown[]) => boolean;
    const good = inclusionProof(3, 10, T70.store);
    for (const g of bad) {
      expect(anyVerifyI(g, 3, 10, good, roots[10])).toBe(false);
      expect(anyVerifyI(leaves[3], g, 10, good, roots[10])).toBe(false);
      expect(anyVerifyI(leaves[3], 3, g, good, roots[10])).toBe(false);
      expect(anyVerifyI(leaves[3], 3, 10, g, roots[10])).toBe(false);
      expect(anyVerifyI(leaves[3], 3, 10, [...good.slice(1), g], roots[10])).toBe(false);
      expect(anyVerifyC(g, 10, good, roots[3], roots[10])).toBe(false);
      expect(anyVerifyC(3, g, good, roots[3], roots[10])).toBe(false);
      expect(anyVerifyC(3, 10, g, roots[3], roots[10])).toBe(false);
      expect(anyVerifyC(3, 10, good, g, roots[10])).toBe(false);
    }
    // A plain Uint8Array copy of a good proof is fine (verification is byte-based).
    expect(anyVerifyI(new Uint8Array(leaves[3]), 3, 10, good.map((h) => new Uint8Array(h)), new Uint8Array(roots[10]))).toBe(true);
  });

  it('generation throws on invalid arguments or a missing node', () => {
    expect(() => inclusionProofIds(5, 5)).toThrow(RangeError);
    expect(() => inclusionProofIds(-1, 5)).toThrow(RangeError);
    expect(() => consistencyProofIds(6, 5)).toThrow(RangeError);
    expect(() => frontierIds(1.5)).toThrow(RangeError);
    expect(() => inclusionProof(3, 10, new Map())).toThrow(/missing/);
    expect(() => rootFrom(10, () => Buffer.alloc(0))).toThrow(/missing/);
  });
});

// ---------------------------------------------------------------------------------------------
// Beyond 32 bits: all-equal leaves make every node at level L the same hash, so any node of a
// tree of 2^40+ leaves is computable in O(1) — this checks the arithmetic never truncates.
// ---------------------------------------------------------------------------------------------
describe('sizes beyond 2^32', () => {
  const uniform: Hash[] = [leafHash(Buffer.from('x'))];
  for (let l = 1; l < 60; l++) uniform.push(createHash('sha256').update(Buffer.from([1])).update(uniform[l - 1]).update(uniform[l - 1]).digest());
  const node = (id: NodeId) => uniform[id.level];

  it.each([2 ** 32 + 1, 2 ** 40 + 12345, 2 ** 52 + 3])('size %i', (n) => {
    const root = rootFrom(n, node);
    for (const i of [0, 2 ** 31, 2 ** 32 - 1, 2 ** 32, n - 2, n - 1]) {
      const ids = inclusionProofIds(i, n);
      expect(ids.length).toBeLessThanOrEqual(bound(n));
      for (const id of ids) expect((id.index + 1) * 2 ** id.level).toBeLessThanOrEqual(n);
      expect(verifyInclusion(uniform[0], i, n, inclusionProof(i, n, node), root)).toBe(true);
    }
    for (const m of [1, 2 ** 31 + 1, 2 ** 32, 2 ** 32 + 1, n - 1]) {
      const ids = consistencyProofIds(m, n);
      expect(ids.length).toBeLessThanOrEqual(bound(n));
      expect(verifyConsistency(m, n, consistencyProof(m, n, node), rootFrom(m, node), root)).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 5. A large tree built in batches, proofs from only the nodes the storage would fetch. (Latency at a
// million events is measured by `npm run bench`, against the database; this keeps CI quick.)
// ---------------------------------------------------------------------------------------------
describe('a large tree', () => {
  it('computes ids + proofs from a Map holding only the needed nodes', () => {
    const n = 131_071, old = 65_537, probes = [0, 40_000, 131_070];
    const needed = new Set<string>();
    const want = (ids: NodeId[]) => ids.forEach((id) => needed.add(nodeKey(id)));
    want(rootIds(n)); want(rootIds(old)); want(consistencyProofIds(old, n));
    probes.forEach((i) => want(inclusionProofIds(i, n)));

    // Build the tree in batches, keeping only the needed nodes (what the one DB query would return).
    const store = new Map<string, Hash>();
    let state = { size: 0, frontier: [] as StoredNode[], nodes: [] as StoredNode[] };
    while (state.size < n) {
      const batch = Array.from({ length: Math.min(10_000, n - state.size) }, (_, j) => leafHash(data(state.size + j)));
      state = append(state.size, state.frontier, batch);
      for (const nd of state.nodes) if (needed.has(nodeKey(nd))) store.set(nodeKey(nd), nd.hash);
    }
    expect(store.size).toBe(needed.size);

    const root = rootFrom(n, store), oldRoot = rootFrom(old, store);
    const incl = probes.map((i) => ({ i, ids: inclusionProofIds(i, n), proof: inclusionProof(i, n, store) }));
    const cIds = consistencyProofIds(old, n);
    const cons = consistencyProof(old, n, store);

    for (const { i, proof, ids } of incl) {
      expect(verifyInclusion(leafHash(data(i)), i, n, proof, root)).toBe(true);
      expect(ids.length).toBeLessThanOrEqual(bound(n));
    }
    expect(verifyConsistency(old, n, cons, oldRoot, root)).toBe(true);
    expect(cIds.length).toBeLessThanOrEqual(bound(n));
  });
});
