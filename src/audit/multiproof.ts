/**
 * Batch inclusion proofs ("multiproofs") for many leaves of one RFC 6962 tree.
 *
 * A subject's export lists up to tens of thousands of access events of a tree of millions; one audit
 * path per event would repeat the upper levels of the tree for every event. A multiproof sends each
 * needed subtree hash once: walking the RFC 6962 recursion MTH(D[lo:hi]) = H(MTH(D[lo:lo+k]), MTH(D[lo+k:hi]))
 * from the root, a half that holds listed leaves is recursed into and a half that holds none is sent
 * as its MTH. The verifier repeats the same walk with the listed leaf hashes and the proof.
 *
 * Canonical order of the proof: depth-first, the left half before the right half, and a sibling MTH
 * right after the elements of the half it completes. With one index this is exactly PATH(m, D[n])
 * (leaf-most first), so `multiProof([i], n, …)` equals `inclusionProof(i, n, …)`.
 *
 * Like merkle.ts, each proof element is the MTH of a range [a, b) with `a` aligned to a power of two
 * ≥ b - a: one stored complete subtree, or the fold of the range's peaks. `multiProofIds` names the
 * stored nodes needed (deduplicated, first-use order) so storage can fetch them in one query.
 *
 * Sizes and indexes are plain numbers (safe integers); arithmetic, never 32-bit bitwise operators.
 * Generation throws on invalid arguments or a missing node; `verifyMultiProof` never throws.
 */
import { hash as oneShot } from 'node:crypto';
import { HASH_SIZE, nodeHash, nodeKey, type Hash, type NodeId, type NodeSource } from './merkle';

type Range = [start: number, end: number];

/** The largest power of two strictly less than n (n ≥ 2): RFC 6962 §2.1's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Peaks of [start, end), biggest first (the same decomposition merkle.ts stores and folds). */
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

/** First position in sorted[from, to) whose value is ≥ value. */
function lowerBound(sorted: readonly number[], value: number, from: number, to: number): number {
  let lo = from, hi = to;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkIndices(indices: readonly number[], size: number): void {
  if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`size must be a positive safe integer, got ${size}`);
  if (!Array.isArray(indices) || indices.length === 0) throw new RangeError('a multiproof needs at least one leaf index');
  let previous = -1;
  for (const index of indices) {
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError(`index must be in [0, ${size}), got ${index}`);
    if (index <= previous) throw new RangeError(`indices must be strictly increasing, got ${index} after ${previous}`);
    previous = index;
  }
}

/** The ranges whose MTHs form the multiproof, in canonical order (see the file comment). */
function multiProofRanges(indices: readonly number[], size: number): Range[] {
  checkIndices(indices, size);
  const out: Range[] = [];
  // indices[from, to) is non-empty and lies in [lo, hi); recursion depth ≤ log2(size) + 1.
  const walk = (lo: number, hi: number, from: number, to: number): void => {
    if (hi - lo === 1) return;
    const mid = lo + splitPoint(hi - lo);
    const split = lowerBound(indices, mid, from, to);
    if (split === to) { walk(lo, mid, from, to); out.push([mid, hi]); }
    else if (split === from) { walk(mid, hi, from, to); out.push([lo, mid]); }
    else { walk(lo, mid, from, split); walk(mid, hi, split, to); }
  };
  walk(0, size, 0, indices.length);
  return out;
}

/**
 * Stored nodes (level L, index k covering leaves [k·2^L, (k+1)·2^L)) that `multiProof(indices, size)`
 * reads, in first-use order: range by range, each range's peaks biggest first. `indices` must be
 * strictly increasing and < size. No node repeats: the ranges are disjoint subtrees of the walk, so
 * their peaks cover disjoint leaves.
 */
export function multiProofIds(indices: number[], size: number): NodeId[] {
  const ids: NodeId[] = [];
  for (const [a, b] of multiProofRanges(indices, size)) for (const id of rangePeaks(a, b)) ids.push(id);
  return ids;
}

/**
 * The multiproof for the leaves at `indices` (strictly increasing) of the tree of `size`, from the
 * `multiProofIds` nodes: looked up in `nodes`, or given as `hashes`, the hash of `multiProofIds(…)[i]`
 * at position i (what a store returns when asked for those ids in order, with no lookup table built).
 */
export function multiProof(indices: number[], size: number, nodes: NodeSource | { hashes: readonly Hash[] }): Hash[] {
  const ranges = multiProofRanges(indices, size);
  let next = 0;
  const get = typeof nodes === 'function' ? nodes
    : nodes instanceof Map ? (id: NodeId) => nodes.get(nodeKey(id)) : () => nodes.hashes[next++];
  const node = (id: NodeId): Hash => {
    const h = get(id);
    if (!h || h.length !== HASH_SIZE) throw new Error(`Merkle node ${nodeKey(id)} is missing or not ${HASH_SIZE} bytes`);
    return h;
  };
  const proof = ranges.map(([a, b]) => {
    // MTH of a right-edge range: fold its peaks right to left (merkle.ts, rangeHash); read in id order, biggest first.
    const peaks = rangePeaks(a, b).map(node);
    let h = peaks[peaks.length - 1];
    for (let i = peaks.length - 2; i >= 0; i--) h = nodeHash(peaks[i], h);
    return h;
  });
  if ('hashes' in nodes && next !== nodes.hashes.length) {
    throw new Error(`the multiproof reads ${next} stored nodes, ${nodes.hashes.length} were given`);
  }
  return proof;
}

const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === HASH_SIZE;

/**
 * RFC 6962 node hash for verification, its inputs copied into one reused buffer and its result a
 * 32-character latin1 string: a 50,000-event proof hashes ~100,000 nodes, and as Buffers each result
 * would carry native memory until the garbage collector reached it.
 */
const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_SIZE, 1);
const put = (h: Uint8Array | string, at: number) => {
  if (typeof h === 'string') NODE_INPUT.write(h, at, HASH_SIZE, 'latin1');
  else NODE_INPUT.set(h, at);
};
const H = (l: Uint8Array | string, r: Uint8Array | string): string => {
  put(l, 1);
  put(r, 1 + HASH_SIZE);
  return oneShot('sha256', NODE_INPUT, 'binary'); // 'binary' is latin1: one character per byte
};

/**
 * Verifies that each `leaves[i].hash` is the leaf at `leaves[i].index` of the tree of `size` whose root
 * is `root`. Leaves must be non-empty and strictly increasing by index; every proof element must be
 * used exactly once. As with single inclusion proofs, the size is bound only through the root (two
 * sizes with the same recursion shape compute the same hash): compare against a signed (size, root).
 */
export function verifyMultiProof(leaves: { index: number; hash: Hash }[], size: number, proof: Hash[], root: Hash): boolean {
  try {
    if (!isHash(root) || !Array.isArray(proof) || !proof.every(isHash) || !Array.isArray(leaves) || leaves.length === 0) return false;
    if (!Number.isSafeInteger(size) || size < 1) return false;
    const indices: number[] = [];
    for (const leaf of leaves) {
      if (!leaf || !isHash(leaf.hash) || !Number.isSafeInteger(leaf.index) || leaf.index < 0 || leaf.index >= size) return false;
      if (indices.length && leaf.index <= indices[indices.length - 1]) return false;
      indices.push(leaf.index);
    }
    let next = 0;
    const sibling = (): Uint8Array | null => (next < proof.length ? proof[next++] : null);
    const walk = (lo: number, hi: number, from: number, to: number): Uint8Array | string | null => {
      if (hi - lo === 1) return leaves[from].hash; // sorted, distinct, in range: exactly one leaf here
      const mid = lo + splitPoint(hi - lo);
      const split = lowerBound(indices, mid, from, to);
      if (split === to) {
        const left = walk(lo, mid, from, to);
        const right = left && sibling();
        return left && right ? H(left, right) : null;
      }
      if (split === from) {
        const right = walk(mid, hi, from, to);
        const left = right && sibling();
        return left && right ? H(left, right) : null;
      }
      const left = walk(lo, mid, from, split);
      const right = left && walk(mid, hi, split, to);
      return left && right ? H(left, right) : null;
    };
    const computed = walk(0, size, 0, leaves.length);
    if (computed === null || next !== proof.length) return false;
    return Buffer.compare(typeof computed === 'string' ? Buffer.from(computed, 'latin1') : computed, root) === 0;
  } catch {
    return false;
  }
}
