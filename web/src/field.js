/**
 * The prime field GF(p), p = 2^127 - 1 by default; Shamir sharing as MPyC does it: node i
 * (0-based) holds f(i + 1) for a random polynomial f of degree t with f(0) the secret
 * (protocol/field.py).  Elements travel as 16-byte big-endian integers below p.  Random
 * coefficients are uniform below p by rejection (no modulo bias), from
 * ``crypto.getRandomValues`` only.
 *
 * Two paths: BigInt for any prime ({@link shareVector}, known-answer sharing, reconstruction),
 * and 32-bit-word arithmetic for 2^127 - 1 on element blocks ({@link shareBlock}), which every
 * upload uses: a batch of HR records holds millions of elements.
 */

import { secureRandomBytes } from "./bytes.js";

/** The Mersenne prime 2^127 - 1, every survey's field. */
export const P127 = (1n << 127n) - 1n;
/** Bytes per field element on the wire. */
export const ELEMENT_BYTES = 16;
const MASK64 = (1n << 64n) - 1n;

/**
 * Throws RangeError unless n nodes with threshold t can share over GF(p) (as protocol/field.py's
 * check_prime_params; p itself is taken as prime).
 * @param {number} n
 * @param {number} t
 * @param {bigint} [p]
 */
export function checkSharingParams(n, t, p = P127) {
  if (!Number.isInteger(n) || !Number.isInteger(t) || t < 1 || !(2 * t < n)) {
    throw new RangeError(`threshold t=${t} needs 1 <= t and 2t < n (n=${n})`);
  }
  if (BigInt(n) >= p) throw new RangeError("more parties than field elements");
}

/**
 * Fixed-width big-endian encoding of field elements (each must be in [0, p)).
 * @param {readonly bigint[]} values
 * @param {bigint} [p]
 * @returns {Uint8Array}
 */
export function encodeElements(values, p = P127) {
  const out = new Uint8Array(ELEMENT_BYTES * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, k) => {
    if (typeof v !== "bigint" || v < 0n || v >= p) throw new RangeError("value is not a reduced field element");
    view.setBigUint64(ELEMENT_BYTES * k, v >> 64n);
    view.setBigUint64(ELEMENT_BYTES * k + 8, v & MASK64);
  });
  return out;
}

/**
 * Inverse of {@link encodeElements}; throws RangeError on a wrong length or an unreduced value.
 * @param {Uint8Array} data
 * @param {number} count
 * @param {bigint} [p]
 * @returns {bigint[]}
 */
export function decodeElements(data, count, p = P127) {
  if (data.length !== count * ELEMENT_BYTES) {
    throw new RangeError(`expected ${count} field elements, got ${data.length} bytes`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Array(count);
  for (let k = 0; k < count; k++) {
    const v = (view.getBigUint64(ELEMENT_BYTES * k) << 64n) | view.getBigUint64(ELEMENT_BYTES * k + 8);
    if (v >= p) throw new RangeError("value is not a reduced field element");
    out[k] = v;
  }
  return out;
}

/** @typedef {(count: number) => Uint8Array} RandomBytes */

/**
 * ``count`` independent uniform elements of [0, p): each candidate takes p's bit length in
 * random bits (from whole 64-bit words, the surplus top bits cleared) and is drawn again while
 * it is >= p (for 2^127 - 1 only the value p itself, probability 2^-127).
 * @param {number} count
 * @param {bigint} [p]
 * @param {RandomBytes} [random] a source of random bytes (tests pass a fixed one)
 * @returns {bigint[]}
 */
export function randomElements(count, p = P127, random = secureRandomBytes) {
  const bits = p.toString(2).length;
  const words = Math.ceil(bits / 64);
  const topMask = (1n << BigInt(bits - 64 * (words - 1))) - 1n;
  const out = [];
  while (out.length < count) {
    const need = count - out.length;
    const raw = random(need * words * 8);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let k = 0; k < need; k++) {
      let v = view.getBigUint64(8 * k * words) & topMask;
      for (let w = 1; w < words; w++) v = (v << 64n) | view.getBigUint64(8 * (k * words + w));
      if (v < p) out.push(v);
    }
    raw.fill(0);
  }
  return out;
}

/**
 * Deterministic sharing with the given coefficients (for known-answer tests):
 * ``coeffs[j]`` are the coefficients of x^1..x^t for entry j.  Returns n share vectors;
 * vector i is node i's share f_j(i + 1) of every entry j.
 * @param {readonly bigint[]} secrets
 * @param {readonly (readonly bigint[])[]} coeffs
 * @param {number} n
 * @param {bigint} [p]
 * @returns {bigint[][]}
 */
export function shareVectorWithCoefficients(secrets, coeffs, n, p = P127) {
  if (coeffs.length !== secrets.length) throw new RangeError("one coefficient list per secret");
  const out = Array.from({ length: n }, () => new Array(secrets.length));
  secrets.forEach((s, j) => {
    const cs = coeffs[j];
    for (let i = 0; i < n; i++) {
      const x = BigInt(i + 1);
      // Horner evaluation of s + c1 x + ... + ct x^t
      let acc = 0n;
      for (let k = cs.length - 1; k >= 0; k--) acc = ((acc + cs[k]) * x) % p;
      out[i][j] = (acc + s) % p;
    }
  });
  return out;
}

/**
 * Share every entry of ``secrets`` with an independent random degree-t polynomial.
 * @param {readonly bigint[]} secrets each in [0, p)
 * @param {number} n
 * @param {number} t
 * @param {bigint} [p]
 * @returns {bigint[][]} n share vectors; vector i is node i's
 */
export function shareVector(secrets, n, t, p = P127) {
  checkSharingParams(n, t, p);
  if (secrets.some((s) => s < 0n || s >= p)) throw new RangeError("value is not a reduced field element");
  const flat = randomElements(secrets.length * t, p);
  const coeffs = secrets.map((_, j) => flat.slice(j * t, (j + 1) * t));
  const shares = shareVectorWithCoefficients(secrets, coeffs, n, p);
  flat.fill(0n);
  return shares;
}

/**
 * ``count`` uniform elements of GF(2^127 - 1) as 16-byte big-endian bytes: the same draws, in
 * the same order, as {@link randomElements} (127 random bits per candidate, p itself drawn
 * again), without BigInt.
 * @param {number} count
 * @param {RandomBytes} [random]
 * @returns {Uint8Array}
 */
export function randomBlock(count, random = secureRandomBytes) {
  const out = new Uint8Array(count * ELEMENT_BYTES);
  let filled = 0;
  while (filled < count) {
    const raw = random((count - filled) * ELEMENT_BYTES);
    for (let at = 0; at < raw.length; at += ELEMENT_BYTES) {
      raw[at] &= 0x7f;
      if (raw[at] === 0x7f && isAllOnes(raw, at + 1)) continue; // p itself: drawn again
      out.set(raw.subarray(at, at + ELEMENT_BYTES), filled * ELEMENT_BYTES);
      filled++;
    }
    raw.fill(0);
  }
  return out;
}

/**
 * @param {Uint8Array} raw
 * @param {number} from
 */
function isAllOnes(raw, from) {
  for (let k = from; k < from - 1 + ELEMENT_BYTES; k++) if (raw[k] !== 0xff) return false;
  return true;
}

const W32 = 2 ** 32;
const TOP = 2 ** 31;

/**
 * Read the 16-byte big-endian element at byte ``at`` into four 32-bit words of ``into`` from
 * ``to`` on, least significant first.
 * @param {DataView} view
 * @param {number} at
 * @param {Float64Array} into
 * @param {number} to
 */
function readWords(view, at, into, to) {
  into[to] = view.getUint32(at + 12);
  into[to + 1] = view.getUint32(at + 8);
  into[to + 2] = view.getUint32(at + 4);
  into[to + 3] = view.getUint32(at);
}

/**
 * A <- (A + C) * x mod 2^127 - 1, with A and C (at word ``c``) four 32-bit words, least
 * significant first, both reduced, and x < 2^16.  Every intermediate stays below 2^53, so double
 * arithmetic is exact; ``>>> 0`` takes the low 32 bits.
 * @param {Float64Array} A
 * @param {Float64Array} C
 * @param {number} c
 * @param {number} x
 */
function addMul(A, C, c, x) {
  let t = (A[0] + C[c]) * x;
  const r0 = t >>> 0;
  t = (t - r0) / W32 + (A[1] + C[c + 1]) * x;
  const r1 = t >>> 0;
  t = (t - r1) / W32 + (A[2] + C[c + 2]) * x;
  const r2 = t >>> 0;
  t = (t - r2) / W32 + (A[3] + C[c + 3]) * x;
  // value = t 2^96 + r2 2^64 + r1 2^32 + r0 with t < 2^50; 2^127 = 1 mod p folds bits 127.. onto bit 0
  const r3 = t % TOP;
  let v = r0 + (t - r3) / TOP;
  A[0] = v >>> 0;
  v = (v - A[0]) / W32 + r1;
  A[1] = v >>> 0;
  v = (v - A[1]) / W32 + r2;
  A[2] = v >>> 0;
  v = (v - A[2]) / W32 + r3;
  if (v >= TOP) {
    // the fold left a value in [2^127, 2^127 + 2^20): subtract 2^127, add 1 (only the low word is non-zero)
    v -= TOP;
    A[0] += 1;
  }
  A[3] = v;
  if (A[3] === TOP - 1 && A[2] === W32 - 1 && A[1] === W32 - 1 && A[0] === W32 - 1) A.fill(0); // p is 0
}

/**
 * Shamir shares of every element of a block (16-byte big-endian elements of GF(2^127 - 1)),
 * each with its own random polynomial of degree t: returns n blocks shaped like the input,
 * block i holding f(i + 1).  Element e uses the coefficients ``t * e .. t * e + t - 1`` (of x^1
 * first) of one {@link randomBlock} draw.  Word arithmetic, no BigInt: this is the bulk path.
 * @param {Uint8Array} secrets
 * @param {number} n
 * @param {number} t
 * @param {RandomBytes} [random]
 * @returns {Uint8Array[]}
 */
export function shareBlock(secrets, n, t, random = secureRandomBytes) {
  checkSharingParams(n, t);
  if (n >= 2 ** 16) throw new RangeError("at most 65535 nodes");
  if (secrets.length % ELEMENT_BYTES !== 0) throw new RangeError("element buffer has the wrong size");
  const count = secrets.length / ELEMENT_BYTES;
  const sv = new DataView(secrets.buffer, secrets.byteOffset, secrets.byteLength);
  const coeffs = randomBlock(count * t, random);
  const cv = new DataView(coeffs.buffer);
  const blocks = Array.from({ length: n }, () => new Uint8Array(secrets.length));
  const views = blocks.map((b) => new DataView(b.buffer));
  const A = new Float64Array(4);
  const C = new Float64Array(4 * (t + 1)); // the coefficients of x^1..x^t, then the secret
  for (let e = 0; e < count; e++) {
    const at = e * ELEMENT_BYTES;
    for (let k = 0; k < t; k++) readWords(cv, (e * t + k) * ELEMENT_BYTES, C, 4 * k);
    readWords(sv, at, C, 4 * t);
    if (C[4 * t + 3] >= TOP || (C[4 * t + 3] === TOP - 1 && C[4 * t + 2] === W32 - 1 && C[4 * t + 1] === W32 - 1
      && C[4 * t] === W32 - 1)) {
      throw new RangeError("value is not a reduced field element");
    }
    for (let i = 0; i < n; i++) {
      A.fill(0);
      // Horner: ((c_t x + c_{t-1}) x + ... + c_1) x, then + secret
      for (let k = t - 1; k >= 0; k--) addMul(A, C, 4 * k, i + 1);
      addMul(A, C, 4 * t, 1);
      for (let w = 0; w < 4; w++) views[i].setUint32(at + 12 - 4 * w, A[w]);
    }
  }
  coeffs.fill(0);
  C.fill(0);
  return blocks;
}

/**
 * Every node's share block for a batch of records: block i is node i's share vectors of all
 * records, 16-byte big-endian elements, row-major (what the batch certificate commits to and
 * the sealed block carries).  Over GF(2^127 - 1), with {@link shareBlock}.
 * @param {readonly (readonly bigint[])[]} rows the records' vectors, all of one width
 * @param {number} n
 * @param {number} t
 * @param {RandomBytes} [random]
 * @returns {Uint8Array[]}
 */
export function shareRows(rows, n, t, random = secureRandomBytes) {
  const width = rows.length ? rows[0].length : 0;
  if (rows.some((r) => r.length !== width)) throw new RangeError("record vectors have different widths");
  const secrets = new Uint8Array(rows.length * width * ELEMENT_BYTES);
  rows.forEach((row, r) => secrets.set(encodeElements(row), r * width * ELEMENT_BYTES));
  const blocks = shareBlock(secrets, n, t, random);
  secrets.fill(0);
  return blocks;
}

/**
 * f(0) of every entry from the shares of the nodes in ``shares`` (node index -> share vector),
 * after checking that all of them lie on one polynomial of degree t (as protocol/field.py's
 * reconstruct_vector, without naming a culprit).
 * @param {Map<number, readonly bigint[]>} shares
 * @param {number} t
 * @param {bigint} [p]
 * @returns {bigint[]}
 */
export function reconstruct(shares, t, p = P127) {
  const nodes = [...shares.keys()].sort((a, b) => a - b);
  if (nodes.length < t + 1) throw new RangeError(`need at least ${t + 1} shares, got ${nodes.length}`);
  const base = nodes.slice(0, t + 1);
  const at = (/** @type {number} */ x) => lagrange(base.map((i) => BigInt(i + 1)), BigInt(x), p);
  const width = /** @type {readonly bigint[]} */ (shares.get(nodes[0])).length;
  const values = (/** @type {bigint[]} */ lam) => Array.from({ length: width }, (_, j) =>
    base.reduce((acc, i, k) => (acc + lam[k] * /** @type {readonly bigint[]} */ (shares.get(i))[j]) % p, 0n));
  for (const other of nodes.slice(t + 1)) {
    const predicted = values(at(other + 1));
    if (predicted.some((v, j) => v !== /** @type {readonly bigint[]} */ (shares.get(other))[j] % p)) {
      throw new RangeError(`shares do not lie on one degree-${t} polynomial`);
    }
  }
  return values(at(0));
}

/**
 * Lagrange coefficients l_k with f(x) = sum_k l_k f(xs[k]) for every f of degree < xs.length.
 * @param {bigint[]} xs
 * @param {bigint} x
 * @param {bigint} p
 * @returns {bigint[]}
 */
function lagrange(xs, x, p) {
  return xs.map((xi, i) => {
    let num = 1n;
    let den = 1n;
    xs.forEach((xj, j) => {
      if (i !== j) {
        num = (num * mod(x - xj, p)) % p;
        den = (den * mod(xi - xj, p)) % p;
      }
    });
    return (num * inverse(den, p)) % p;
  });
}

/**
 * @param {bigint} a
 * @param {bigint} p
 */
function mod(a, p) {
  const r = a % p;
  return r < 0n ? r + p : r;
}

/**
 * a^-1 mod p (p prime, a not 0 mod p), by the extended Euclidean algorithm.
 * @param {bigint} a
 * @param {bigint} p
 * @returns {bigint}
 */
export function inverse(a, p = P127) {
  let [r0, r1] = [mod(a, p), p];
  let [s0, s1] = [1n, 0n];
  if (r0 === 0n) throw new RangeError("0 has no inverse");
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, p);
}
