/**
 * RFC 6962 Merkle tree (Certificate Transparency) over *stored complete subtrees*.
 *
 * Storage model: node (level L, index i) covers leaves [i·2^L, (i+1)·2^L) and exists once all of
 * those leaves exist; level 0 holds the leaf hashes. Nothing else is stored. Every RFC 6962 value
 * we need (roots, audit-path and consistency-proof elements) is the MTH of a range [a, b) where
 * `a` is a multiple of a power of two ≥ b - a, i.e. either one complete node or the *right edge*
 * of a tree; the latter is the fold of the range's peaks (one complete node per set bit of b - a).
 * Hence every operation is split in two: `*Ids` says which O(log n) nodes are needed (so storage
 * can fetch them in one query), and the companion function computes from those nodes only.
 *
 * Sizes and indexes are plain numbers (safe integers, < 2^53). Bitwise operators are 32-bit in JS,
 * so all shifting below is done with arithmetic (`Math.floor(x / 2)`, `x % 2`), never `>>`.
 * Proof generation throws on invalid arguments or a missing node; verify* never throws.
 */
import { createHash, hash as oneShot } from 'node:crypto';

export type Hash = Buffer; // 32 bytes
export interface NodeId { level: number; index: number }
export interface StoredNode extends NodeId { hash: Hash }
/** Where computations get stored nodes from: a Map keyed by `nodeKey`, or a lookup function. */
export type NodeSource = Map<string, Hash> | ((id: NodeId) => Hash);

export const HASH_SIZE = 32;
export const nodeKey = (id: NodeId) => `${id.level}:${id.index}`;

/** RFC 6962 §2.1: leaf hash = SHA-256(0x00 || data). The 0x00/0x01 prefixes give second-preimage resistance. */
export function leafHash(data: Buffer | Uint8Array): Hash {
  return createHash('sha256').update(Buffer.from([0])).update(data).digest();
}

/** RFC 6962 §2.1: interior node = SHA-256(0x01 || left || right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  // One-shot hashing of a reused buffer: no Hash object (and its native context) per node, which a
  // 50,000-leaf multiproof would otherwise leave by the hundred thousand for the garbage collector.
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    return createHash('sha256').update(Buffer.from([1])).update(left).update(right).digest();
  }
  left.copy(NODE_INPUT, 1);
  right.copy(NODE_INPUT, 1 + HASH_SIZE);
  return oneShot('sha256', NODE_INPUT, 'buffer');
}
const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_SIZE, 1);

/** RFC 6962 §2.1: MTH({}) = SHA-256() (e3b0c442…b855). */
export const EMPTY_ROOT: Hash = createHash('sha256').digest();

// ---------------------------------------------------------------------------------------------
// Node ids
// ---------------------------------------------------------------------------------------------

function checkSize(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${n}`);
}

/** The largest power of two strictly less than n (n ≥ 2): RFC 6962 §2.1's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Peaks of the range [start, end): one complete node per set bit of (end - start), left to right,
 * biggest first. Requires `start` to be aligned to a power of two ≥ end - start, which holds for
 * every range RFC 6962 recursion produces (it only ever splits at powers of two from offset 0).
 */
function rangePeaks(start: number, end: number): NodeId[] {
  const ids: NodeId[] = [];
  let width = 1, level = 0;
  while (width * 2 <= end - start) { width *= 2; level++; }
  for (let at = start; at < end; width /= 2, level--) {
    if (at + width <= end) {
      ids.push({ level, index: at / width });
      at += width;
    }
  }
  return ids;
}

/** The peaks (the "frontier"/compact range) of a size-`size` tree: one complete subtree per set bit, left to right. */
export function frontierIds(size: number): NodeId[] {
  checkSize('size', size);
  return rangePeaks(0, size);
}

/** Nodes `rootFrom` needs: the peaks (an empty list for the empty tree). */
export const rootIds = frontierIds;

type Range = [start: number, end: number];

/**
 * RFC 6962 §2.1.1 PATH(m, D[n]), unrolled: the ranges whose MTHs form the audit path, leaf-most
 * first. PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) if m < k, else PATH(m-k, D[k:n]) : MTH(D[0:k]).
 */
function inclusionRanges(index: number, size: number): Range[] {
  checkSize('size', size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`index must be in [0, ${size}), got ${index}`);
  }
  const out: Range[] = []; // root-most first, reversed at the end
  let lo = 0, n = size, m = index;
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) { out.push([lo + k, lo + n]); n = k; }
    else { out.push([lo, lo + k]); lo += k; m -= k; n -= k; }
  }
  return out.reverse();
}

/**
 * RFC 6962 §2.1.2 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), unrolled: the ranges whose MTHs form
 * the consistency proof. Empty for m == 0 or m == n (nothing to prove; RFC 6962 defines PROOF only
 * for 0 < m < n, and RFC 9162 §2.1.4 has the same convention).
 */
function consistencyRanges(oldSize: number, newSize: number): Range[] {
  checkSize('oldSize', oldSize);
  checkSize('newSize', newSize);
  if (oldSize > newSize) throw new RangeError(`oldSize ${oldSize} > newSize ${newSize}`);
  if (oldSize === 0 || oldSize === newSize) return [];
  const out: Range[] = []; // root-most first
  let lo = 0, n = newSize, m = oldSize, b = true;
  while (m !== n) {
    const k = splitPoint(n);
    // m <= k: SUBPROOF(m, D[0:k], b) : MTH(D[k:n]);  m > k: SUBPROOF(m-k, D[k:n], false) : MTH(D[0:k])
    if (m <= k) { out.push([lo + k, lo + n]); n = k; }
    else { out.push([lo, lo + k]); lo += k; m -= k; n -= k; b = false; }
  }
  // SUBPROOF(m, D[m], b): [] when b (the old root is this very subtree, the verifier has it), else MTH(D[m]).
  if (!b) out.push([lo, lo + n]);
  return out.reverse();
}

/** Distinct peaks of the ranges, in first-use order. */
function idsOf(ranges: Range[]): NodeId[] {
  const seen = new Map<string, NodeId>();
  for (const [a, b] of ranges) for (const id of rangePeaks(a, b)) seen.set(nodeKey(id), id);
  return [...seen.values()];
}

/** Stored nodes needed for `inclusionProof(index, size)` (≤ 2·log2(size) + 1 of them). */
export function inclusionProofIds(index: number, size: number): NodeId[] {
  return idsOf(inclusionRanges(index, size));
}

/** Stored nodes needed for `consistencyProof(oldSize, newSize)` (≤ 2·log2(newSize) + 2 of them). */
export function consistencyProofIds(oldSize: number, newSize: number): NodeId[] {
  return idsOf(consistencyRanges(oldSize, newSize));
}

// ---------------------------------------------------------------------------------------------
// Computing from stored nodes
// ---------------------------------------------------------------------------------------------

function lookup(source: NodeSource): (id: NodeId) => Hash {
  const get = typeof source === 'function' ? source : (id: NodeId) => source.get(nodeKey(id));
  return (id) => {
    const h = get(id);
    if (!h || h.length !== HASH_SIZE) throw new Error(`Merkle node ${nodeKey(id)} is missing or not ${HASH_SIZE} bytes`);
    return h;
  };
}

/**
 * MTH of a right-edge range from its peaks. With k the largest power of two < n, D[0:k] is the
 * first peak and D[k:n] the rest, so MTH = H(p0, H(p1, … H(p_{j-1}, p_j))): fold right to left.
 */
function rangeHash(range: Range, node: (id: NodeId) => Hash): Hash {
  const peaks = rangePeaks(range[0], range[1]);
  let h = node(peaks[peaks.length - 1]);
  for (let i = peaks.length - 2; i >= 0; i--) h = nodeHash(node(peaks[i]), h);
  return h;
}

/** RFC 6962 §2.1 MTH(D[size]) from the stored peaks (`rootIds(size)`). */
export function rootFrom(size: number, nodes: NodeSource): Hash {
  checkSize('size', size);
  return size === 0 ? EMPTY_ROOT : rangeHash([0, size], lookup(nodes));
}

/** RFC 6962 §2.1.1 audit path for leaf `index` in the tree of `size` leaves, from `inclusionProofIds` nodes. */
export function inclusionProof(index: number, size: number, nodes: NodeSource): Hash[] {
  const node = lookup(nodes);
  return inclusionRanges(index, size).map((r) => rangeHash(r, node));
}

/** RFC 6962 §2.1.2 consistency proof PROOF(oldSize, D[newSize]), from `consistencyProofIds` nodes. */
export function consistencyProof(oldSize: number, newSize: number, nodes: NodeSource): Hash[] {
  const node = lookup(nodes);
  return consistencyRanges(oldSize, newSize).map((r) => rangeHash(r, node));
}

/**
 * Appends leaf hashes to a tree of `size` leaves whose peaks are `frontier` (the stored nodes at
 * `frontierIds(size)`, left to right). Returns every node that became complete — each new leaf
 * (level 0) followed by the parents it completes — to be stored, plus the new frontier and size.
 * Like a binary counter: each leaf is pushed as a peak and equal-level peaks merge, so the cost is
 * O(k + log n) hashes for k leaves (each merge creates one of the ≤ k new interior nodes).
 */
export function append(size: number, frontier: StoredNode[], leaves: Hash[]):
  { nodes: StoredNode[]; frontier: StoredNode[]; size: number } {
  const expected = frontierIds(size);
  if (frontier.length !== expected.length || expected.some((id, i) => nodeKey(id) !== nodeKey(frontier[i]))) {
    throw new Error(`frontier does not match frontierIds(${size})`);
  }
  if (!Number.isSafeInteger(size + leaves.length)) throw new RangeError('tree size would exceed 2^53');
  const peaks = frontier.map((p) => ({ level: p.level, index: p.index, hash: p.hash }));
  const nodes: StoredNode[] = [];
  for (const hash of leaves) {
    if (hash.length !== HASH_SIZE) throw new Error(`leaf hash must be ${HASH_SIZE} bytes`);
    let cur: StoredNode = { level: 0, index: size++, hash };
    nodes.push(cur);
    // The new node and the last peak are siblings exactly when they are at the same level.
    while (peaks.length > 0 && peaks[peaks.length - 1].level === cur.level) {
      const left = peaks.pop()!;
      cur = { level: cur.level + 1, index: left.index / 2, hash: nodeHash(left.hash, cur.hash) };
      nodes.push(cur);
    }
    peaks.push(cur);
  }
  return { nodes, frontier: peaks, size };
}

// ---------------------------------------------------------------------------------------------
// Verification (RFC 9162 §2.1.3.2 and §2.1.4.2, iterative). Never throws.
// ---------------------------------------------------------------------------------------------

const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === HASH_SIZE;
const isProof = (p: unknown): p is Uint8Array[] => Array.isArray(p) && p.every(isHash);
const eq = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const odd = (x: number) => x % 2 === 1;
const half = (x: number) => Math.floor(x / 2);
const H = (l: Uint8Array, r: Uint8Array) => nodeHash(Buffer.from(l), Buffer.from(r));

/**
 * RFC 9162 §2.1.3.2: verify that `leaf` (a leaf *hash*) is at `index` in the tree of `size` whose
 * root is `root`. The empty proof is accepted only for size 1 (then leaf must equal root).
 * Note: the proof binds the index, but the size only through the root — e.g. a proof for leaf 0
 * of size 3 also "verifies" for size 4 against the size-3 root, in this and every RFC verifier,
 * because the hash computation is identical. Always compare against a (size, root) pair you trust.
 */
export function verifyInclusion(leaf: Hash, index: number, size: number, proof: Hash[], root: Hash): boolean {
  try {
    if (!isHash(leaf) || !isHash(root) || !isProof(proof)) return false;
    if (!Number.isSafeInteger(size) || !Number.isSafeInteger(index) || index < 0 || index >= size) return false; // step 1
    let fn = index, sn = size - 1; // step 2
    let r: Uint8Array = leaf; // step 3
    for (const p of proof) { // step 4
      if (sn === 0) return false; // a: proof too long
      if (odd(fn) || fn === sn) {
        r = H(p, r); // b.i: p is a left sibling
        while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); } // b.ii: skip levels with no right sibling
      } else {
        r = H(r, p); // p is a right sibling
      }
      fn = half(fn); sn = half(sn); // c
    }
    return sn === 0 && eq(r, root); // step 5: sn ≠ 0 means the proof was too short
  } catch {
    return false;
  }
}

/**
 * RFC 9162 §2.1.4.2: verify that the tree of `newSize` (root `newRoot`) extends the tree of
 * `oldSize` (root `oldRoot`). Edge cases (outside the RFC algorithm, which assumes 0 < first < second):
 *  - oldSize == newSize: accepted iff the proof is empty and the roots are equal;
 *  - oldSize == 0: the empty tree is a prefix of every tree, so the proof must be empty — and we
 *    also require oldRoot to be EMPTY_ROOT (stricter than Go's old verifier, which ignored the
 *    roots; current transparency-dev/merkle rejects size1 == 0 outright);
 *  - oldSize > newSize, negative or non-integer sizes: rejected.
 */
export function verifyConsistency(oldSize: number, newSize: number, proof: Hash[], oldRoot: Hash, newRoot: Hash): boolean {
  try {
    if (!isHash(oldRoot) || !isHash(newRoot) || !isProof(proof)) return false;
    if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || oldSize > newSize) return false;
    if (oldSize === 0) return proof.length === 0 && eq(oldRoot, EMPTY_ROOT) && (newSize > 0 || eq(newRoot, EMPTY_ROOT));
    if (oldSize === newSize) return proof.length === 0 && eq(oldRoot, newRoot);
    if (proof.length === 0) return false; // step 1
    // step 2: if first is a power of two, the old tree is a complete subtree of the new one and
    // its root is the seed; otherwise the proof's first element is the seed.
    const path: Uint8Array[] = isPow2(oldSize) ? [oldRoot, ...proof] : proof;
    let fn = oldSize - 1, sn = newSize - 1; // step 3
    while (odd(fn)) { fn = half(fn); sn = half(sn); } // step 4
    let fr = path[0], sr = path[0]; // step 5
    for (const c of path.slice(1)) { // step 6
      if (sn === 0) return false; // a
      if (odd(fn) || fn === sn) { // b: c is a left sibling, part of both trees
        fr = H(c, fr);
        sr = H(c, sr);
        while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
      } else { // c is a right sibling: only in the new tree
        sr = H(sr, c);
      }
      fn = half(fn); sn = half(sn); // c
    }
    return sn === 0 && eq(fr, oldRoot) && eq(sr, newRoot); // step 7
  } catch {
    return false;
  }
}

function isPow2(x: number): boolean { // no `x & (x - 1)`: sizes may exceed 32 bits
  while (x > 1 && x % 2 === 0) x /= 2;
  return x === 1;
}
