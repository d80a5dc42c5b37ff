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
  const first = random(count * ELEMENT_BYTES);
  let rejected = false;
  for (let at = 0; at < first.length; at += ELEMENT_BYTES) {
    first[at] &= 0x7f;
    if (first[at] === 0x7f && isAllOnes(first, at + 1)) rejected = true;
  }
  if (!rejected) return first; // all but certainly: p has probability 2^-127 per candidate
  const out = new Uint8Array(count * ELEMENT_BYTES);
  let filled = keepBelowP(first, out, 0);
  first.fill(0);
  while (filled < count) {
    const raw = random((count - filled) * ELEMENT_BYTES);
    for (let at = 0; at < raw.length; at += ELEMENT_BYTES) raw[at] &= 0x7f;
    filled = keepBelowP(raw, out, filled);
    raw.fill(0);
  }
  return out;
}

/**
 * Append the candidates of ``raw`` (top bits cleared) other than p to ``out`` after its first
 * ``filled`` elements; returns the new count.
 * @param {Uint8Array} raw
 * @param {Uint8Array} out
 * @param {number} filled
 */
function keepBelowP(raw, out, filled) {
  for (let at = 0; at < raw.length; at += ELEMENT_BYTES) {
    if (raw[at] === 0x7f && isAllOnes(raw, at + 1)) continue;
    out.set(raw.subarray(at, at + ELEMENT_BYTES), filled * ELEMENT_BYTES);
    filled++;
  }
  return filled;
}

/**
 * @param {Uint8Array} raw
 * @param {number} from
 */
function isAllOnes(raw, from) {
  for (let k = from; k < from - 1 + ELEMENT_BYTES; k++) if (raw[k] !== 0xff) return false;
  return true;
}

const INV32 = 2 ** -32;
const INV31 = 2 ** -31;
const LOW31 = 0x7fffffff;
const ONES = 0xffffffff;
/** Elements shared per random draw: bounds the coefficient buffer, whatever the batch size. */
const SHARE_CHUNK = 8192;

/**
 * Shamir shares of every element of a block (16-byte big-endian elements of GF(2^127 - 1)),
 * each with its own random polynomial of degree t: returns n blocks shaped like the input,
 * block i holding f(i + 1).  Element e uses the coefficients ``t * e .. t * e + t - 1`` (of x^1
 * first) of the {@link randomBlock} draws, made in chunks of up to 8,192 elements' coefficients
 * (t x 16 bytes each).  32-bit limb arithmetic, no BigInt: this is the bulk path.
 * @param {Uint8Array} secrets
 * @param {number} n
 * @param {number} t
 * @param {RandomBytes} [random]
 * @returns {Uint8Array[]}
 */
export function shareBlock(secrets, n, t, random = secureRandomBytes) {
  const blocks = Array.from({ length: n }, () => new Uint8Array(secrets.length));
  shareBlockInto(secrets, blocks, t, random);
  return blocks;
}

/**
 * {@link shareBlock} writing node i's shares into ``outs[i]`` (n arrays of the secrets' size,
 * e.g. views into a larger buffer), so a caller that frames the shares copies nothing.
 * @param {Uint8Array} secrets
 * @param {Uint8Array[]} outs
 * @param {number} t
 * @param {RandomBytes} [random]
 */
export function shareBlockInto(secrets, outs, t, random = secureRandomBytes) {
  const n = outs.length;
  checkSharingParams(n, t);
  if (n >= 2 ** 16) throw new RangeError("at most 65535 nodes");
  if (secrets.length % ELEMENT_BYTES !== 0) throw new RangeError("element buffer has the wrong size");
  if (outs.some((o) => o.length !== secrets.length)) throw new RangeError("share buffer has the wrong size");
  const count = secrets.length / ELEMENT_BYTES;
  const sv = new DataView(secrets.buffer, secrets.byteOffset, secrets.byteLength);
  const views = outs.map((o) => new DataView(o.buffer, o.byteOffset, o.byteLength));
  for (let from = 0; from < count; from += SHARE_CHUNK) {
    const upto = Math.min(count, from + SHARE_CHUNK);
    const coeffs = randomBlock((upto - from) * t, random);
    const cv = new DataView(coeffs.buffer, coeffs.byteOffset, coeffs.byteLength);
    try {
      for (let e = from; e < upto; e++) shareElement(sv, e * ELEMENT_BYTES, cv, (e - from) * t * ELEMENT_BYTES, t, views);
    } finally {
      coeffs.fill(0);
    }
  }
}

/**
 * Every node's share of the element at byte ``at`` of ``sv``: Horner's rule on its t
 * coefficients (``cv`` from byte ``c``, of x^1 first), each step (a x + c) mod p by
 * {@link mulAdd}; written big-endian at byte ``at`` of each view.
 * @param {DataView} sv
 * @param {number} at
 * @param {DataView} cv
 * @param {number} c
 * @param {number} t
 * @param {DataView[]} views
 */
function shareElement(sv, at, cv, c, t, views) {
  const s3 = sv.getUint32(at);
  const s2 = sv.getUint32(at + 4);
  const s1 = sv.getUint32(at + 8);
  const s0 = sv.getUint32(at + 12);
  if (s3 > LOW31 || (s3 === LOW31 && s2 === ONES && s1 === ONES && s0 === ONES)) {
    throw new RangeError("value is not a reduced field element");
  }
  const top = c + (t - 1) * ELEMENT_BYTES;
  const t0 = cv.getUint32(top + 12);
  const t1 = cv.getUint32(top + 8);
  const t2 = cv.getUint32(top + 4);
  const t3 = cv.getUint32(top);
  for (let i = 0; i < views.length; i++) {
    const x = i + 1;
    LIMBS[0] = t0;
    LIMBS[1] = t1;
    LIMBS[2] = t2;
    LIMBS[3] = t3;
    for (let at2 = top - ELEMENT_BYTES; at2 >= c; at2 -= ELEMENT_BYTES) {
      mulAdd(x, cv.getUint32(at2 + 12), cv.getUint32(at2 + 8), cv.getUint32(at2 + 4), cv.getUint32(at2));
    }
    mulAdd(x, s0, s1, s2, s3);
    const v = views[i];
    v.setUint32(at, LIMBS[3]);
    v.setUint32(at + 4, LIMBS[2]);
    v.setUint32(at + 8, LIMBS[1]);
    v.setUint32(at + 12, LIMBS[0]);
  }
  LIMBS[0] = LIMBS[1] = LIMBS[2] = LIMBS[3] = 0;
}

/** The running value of {@link mulAdd}: four 32-bit limbs, least significant first. */
const LIMBS = new Uint32Array(4);

/**
 * LIMBS <- (LIMBS x + c) mod 2^127 - 1, for LIMBS and c (limbs c0..c3, least significant
 * first) below 2^127 and x < 2^16.  Each limb product with its carry stays below 2^53, so double
 * arithmetic is exact; ``>>> 0`` takes the low 32 bits.  Bits 127 and up fold onto bit 0
 * (2^127 = 1 mod p); the result is reduced (p itself becomes 0).
 * @param {number} x
 * @param {number} c0
 * @param {number} c1
 * @param {number} c2
 * @param {number} c3
 */
function mulAdd(x, c0, c1, c2, c3) {
  let u = LIMBS[0] * x + c0;
  let r0 = u >>> 0;
  u = (u - r0) * INV32 + LIMBS[1] * x + c1;
  let r1 = u >>> 0;
  u = (u - r1) * INV32 + LIMBS[2] * x + c2;
  let r2 = u >>> 0;
  u = (u - r2) * INV32 + LIMBS[3] * x + c3;
  // u < 2^49: the value is u 2^96 + r2 2^64 + r1 2^32 + r0; split u at bit 31 (bit 127 overall)
  let r3 = (u >>> 0) & LOW31;
  u = (u - r3) * INV31 + r0;
  if (u <= ONES) {
    r0 = u; // the folded bits did not carry out of the low limb (all but 1 in 2^14 steps)
  } else {
    r0 = u >>> 0;
    u = (u - r0) * INV32 + r1;
    r1 = u >>> 0;
    u = (u - r1) * INV32 + r2;
    r2 = u >>> 0;
    r3 += (u - r2) * INV32;
    if (r3 > LOW31) {
      // a carry into bit 127: fold it (r1 and r2 are then 0 and r0 below 2^18, so r0 + 1 does not carry)
      r3 &= LOW31;
      r0 += 1;
    }
  }
  if (r3 === LOW31 && r2 === ONES && r1 === ONES && r0 === ONES) r0 = r1 = r2 = r3 = 0;
  LIMBS[0] = r0;
  LIMBS[1] = r1;
  LIMBS[2] = r2;
  LIMBS[3] = r3;
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
  const secrets = rowsBlock(rows);
  const blocks = shareBlock(secrets, n, t, random);
  secrets.fill(0);
  return blocks;
}

/**
 * The records' vectors as one block of 16-byte big-endian elements, row-major; throws
 * RangeError on rows of different widths or an entry that is not a reduced element.
 * @param {readonly (readonly bigint[])[]} rows
 * @returns {Uint8Array}
 */
export function rowsBlock(rows) {
  const width = rows.length ? rows[0].length : 0;
  if (rows.some((r) => r.length !== width)) throw new RangeError("record vectors have different widths");
  const out = new Uint8Array(rows.length * width * ELEMENT_BYTES);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const row of rows) {
    for (const v of row) {
      if (typeof v !== "bigint" || v < 0n || v >= P127) throw new RangeError("value is not a reduced field element");
      if (v < SAFE) {
        const low = Number(v);
        view.setUint32(at + 8, Math.floor(low * INV32));
        view.setUint32(at + 12, low >>> 0);
      } else {
        view.setBigUint64(at, v >> 64n);
        view.setBigUint64(at + 8, v & MASK64);
      }
      at += ELEMENT_BYTES;
    }
  }
  return out;
}

/** Values below this are exact as doubles (most record entries are small). */
const SAFE = 1n << 53n;

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
