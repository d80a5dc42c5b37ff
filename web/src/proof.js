/**
 * The validity proof a contributor appends to its record vector (protocol/validity.py's prove):
 *
 *     [record (W)] [m] [x1 y1 z1] [x2 y2 z2] [w0] [h(0) .. h(2G)]        width W + 4L + 9
 *
 * m, x1, y1, x2, y2 and w0 uniformly random, z1 = x1 y1 and z2 = x2 y2 two Beaver triples, and
 * h = w^2 given by its values at 0..2G, where w is the polynomial of degree G = 2L through
 * (0, w0) and (k, d_k) for the record's G offset bits d = d1 d2.  The nodes check it on shares
 * with random coefficients they draw after the submissions are frozen.  BigInt arithmetic mod p.
 */

import { P127, inverse, randomElements } from "./field.js";
import { encodeRecord } from "./record.js";

/** @import { EmployeeRecord, Scheme } from "./record.js" */

/**
 * The fixed random values of a proof, for known-answer tests: (m, x1, y1, x2, y2, w0).
 * @typedef {readonly [bigint, bigint, bigint, bigint, bigint, bigint]} ProofRandomness
 */

/** Where each part of a submission vector sits: the record's {@link Scheme}, then the proof. */
export class Layout {
  /** @param {Scheme} scheme */
  constructor(scheme) {
    this.scheme = scheme;
    this.recordWidth = scheme.recordWidth;
    /** G: the squares the proof's polynomial h carries, one per bit of d1 and d2. */
    this.gates = 2 * scheme.bits;
    this.maskAt = this.recordWidth;
    /** x1, y1, z1 */
    this.oneHotTripleAt = this.recordWidth + 1;
    /** x2, y2, z2 */
    this.productTripleAt = this.recordWidth + 4;
    /** w0, the wire polynomial's value at 0 */
    this.seedAt = this.recordWidth + 7;
    this.hAt = this.recordWidth + 8;
    /** Field elements per submission. */
    this.width = this.hAt + 2 * this.gates + 1;
    Object.freeze(this);
  }
}

/**
 * Lagrange coefficients l_k with f(x) = sum_k l_k f(k) over the nodes 0..count-1, for every f
 * of degree < count (protocol/field.py's lagrange_consecutive; p prime > count).
 * @param {number} count
 * @param {bigint} x
 * @param {bigint} [p]
 * @returns {bigint[]}
 */
export function lagrangeConsecutive(count, x, p = P127) {
  const xr = ((x % p) + p) % p;
  if (xr < BigInt(count)) return Array.from({ length: count }, (_, k) => (BigInt(k) === xr ? 1n : 0n));
  const fact = [1n];
  for (let k = 1; k < count; k++) fact.push((fact[k - 1] * BigInt(k)) % p);
  // prefix[k] = prod_{j<k} (x - j), suffix[k] = prod_{j>k-1} (x - j)
  const prefix = [1n];
  for (let j = 0; j < count; j++) prefix.push((prefix[j] * (xr - BigInt(j))) % p);
  const suffix = new Array(count + 1).fill(1n);
  for (let j = count - 1; j >= 0; j--) suffix[j] = (suffix[j + 1] * (xr - BigInt(j))) % p;
  const invFact = new Array(count).fill(1n);
  invFact[count - 1] = inverse(fact[count - 1], p);
  for (let k = count - 1; k > 0; k--) invFact[k - 1] = (invFact[k] * BigInt(k)) % p;
  return Array.from({ length: count }, (_, k) => {
    const v = (((((prefix[k] * suffix[k + 1]) % p) * invFact[k]) % p) * invFact[count - 1 - k]) % p;
    return (count - 1 - k) % 2 === 0 ? v : (p - v) % p;
  });
}

/** @type {Map<string, bigint[][]>} */
const extensions = new Map();

/**
 * Rows for the points G+1..2G: Lagrange coefficients over the nodes 0..G (degree-G
 * extrapolation of the wire polynomial).
 * @param {number} G
 * @param {bigint} p
 */
function extension(G, p) {
  const key = `${G}:${p}`;
  let rows = extensions.get(key);
  if (rows === undefined) {
    rows = Array.from({ length: G }, (_, e) => lagrangeConsecutive(G + 1, BigInt(G + 1 + e), p));
    extensions.set(key, rows);
  }
  return rows;
}

/**
 * The wire polynomial w's values at 0..2G: w0, the record's G offset bits, then their
 * extrapolation.
 * @param {readonly bigint[]} rec the record reduced mod p
 * @param {Layout} layout
 * @param {bigint} w0
 * @param {bigint} p
 */
function wireValues(rec, layout, w0, p) {
  const at = layout.scheme.d1At;
  const w = [w0, ...rec.slice(at, at + layout.gates)];
  const inputs = [...w];
  for (const row of extension(layout.gates, p)) w.push(row.reduce((acc, c, k) => acc + c * inputs[k], 0n) % p);
  return w;
}

/**
 * The full submission vector for a record vector: record, m, x1 y1 z1, x2 y2 z2, w0, h(0..2G).
 * A record that is not valid still gets honest triples and the true squares of its bits, so
 * the nodes reject it for the constraint it breaks.
 * @param {readonly bigint[]} record
 * @param {Layout} layout
 * @param {bigint} [p]
 * @param {ProofRandomness} [randomness] fixes (m, x1, y1, x2, y2, w0) for known-answer tests;
 *   by default drawn uniformly from ``crypto.getRandomValues``
 * @returns {bigint[]}
 */
export function prove(record, layout, p = P127, randomness = undefined) {
  if (record.length !== layout.recordWidth) throw new RangeError("record vector has the wrong length for this layout");
  if (randomness !== undefined && randomness.length !== 6) throw new RangeError("proof randomness is six field elements");
  const mod = (/** @type {bigint} */ v) => ((v % p) + p) % p;
  const [m, x1, y1, x2, y2, w0] = (randomness ?? randomElements(6, p)).map(mod);
  const rec = record.map(mod);
  const h = wireValues(rec, layout, w0, p).map((v) => (v * v) % p);
  return [...rec, m, x1, y1, (x1 * y1) % p, x2, y2, (x2 * y2) % p, w0, ...h];
}

/**
 * What a contributor shares: the record's vector and its validity proof
 * (protocol/validity.py's encode_submission).
 * @param {EmployeeRecord} record
 * @param {Scheme} scheme
 * @param {bigint} [p]
 * @param {ProofRandomness} [randomness]
 */
export function encodeSubmission(record, scheme, p = P127, randomness = undefined) {
  return prove(encodeRecord(record, scheme), new Layout(scheme), p, randomness);
}
