import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ELEMENT_BYTES, P127, decodeElements, encodeElements, inverse, randomBlock, randomElements, reconstruct, rowsBlock, shareBlock,
  shareBlockInto, shareRows, shareVector, shareVectorWithCoefficients,
} from "../src/field.js";
import { vector } from "./vectors.js";

const SHAMIR = vector("shamir");

test("shamir.json: deterministic sharing gives the known shares for every case", () => {
  assert.equal(SHAMIR.cases.length, 4);
  for (const c of SHAMIR.cases) {
    const p = BigInt(c.p);
    const secrets = c.secrets.map(BigInt);
    const coeffs = c.coefficients.map((/** @type {string[]} */ cs) => cs.map(BigInt));
    const shares = shareVectorWithCoefficients(secrets, coeffs, c.n, p);
    assert.deepEqual(shares, c.shares.map((/** @type {string[]} */ row) => row.map(BigInt)), c.name);
  }
});

test("shamir.json: every t+1 subset of the known shares reconstructs the secrets; a wrong share is caught", () => {
  for (const c of SHAMIR.cases) {
    const p = BigInt(c.p);
    const shares = c.shares.map((/** @type {string[]} */ row) => row.map(BigInt));
    const secrets = c.secrets.map(BigInt);
    for (const subset of subsets(c.n, c.t + 1)) {
      assert.deepEqual(reconstruct(new Map(subset.map((i) => [i, shares[i]])), c.t, p), secrets, `${c.name} ${subset}`);
    }
    const all = new Map(shares.map((/** @type {bigint[]} */ s, /** @type {number} */ i) => [i, s]));
    assert.deepEqual(reconstruct(all, c.t, p), secrets);
    const bad = new Map(all);
    bad.set(c.n - 1, shares[c.n - 1].map((/** @type {bigint} */ v, /** @type {number} */ j) => (j === 3 ? (v + 1n) % p : v)));
    assert.throws(() => reconstruct(bad, c.t, p), /do not lie on one degree/);
  }
});

test("random sharing: node i holds f(i+1), reconstructs, and fresh coefficients differ each time", () => {
  const secrets = [0n, 1n, P127 - 1n, 52000n];
  const a = shareVector(secrets, 5, 2);
  const b = shareVector(secrets, 5, 2);
  assert.deepEqual(reconstruct(new Map(a.map((s, i) => [i, s])), 2), secrets);
  assert.deepEqual(reconstruct(new Map([[0, a[0]], [2, a[2]], [4, a[4]]]), 2), secrets);
  assert.notDeepEqual(a, b);
  assert.throws(() => shareVector(secrets, 3, 2), /2t < n/);
  assert.throws(() => shareVector([P127], 3, 1), /not a reduced field element/);
});

test("element encoding: 16 bytes big-endian, below p only", () => {
  const values = [0n, 1n, P127 - 1n, 0x0123456789abcdef0123456789abcdefn % P127];
  const bytes = encodeElements(values);
  assert.equal(bytes.length, 4 * ELEMENT_BYTES);
  assert.equal(Buffer.from(bytes.subarray(16, 32)).toString("hex"), "00000000000000000000000000000001");
  assert.equal(Buffer.from(bytes.subarray(32, 48)).toString("hex"), "7ffffffffffffffffffffffffffffffe");
  assert.deepEqual(decodeElements(bytes, 4), values);
  assert.throws(() => encodeElements([P127]), /not a reduced/);
  assert.throws(() => encodeElements([-1n]), /not a reduced/);
  const p = new Uint8Array(16).fill(0xff);
  p[0] = 0x7f;
  assert.throws(() => decodeElements(p, 1), /not a reduced/);
  assert.throws(() => decodeElements(bytes, 3), /expected 3 field elements, got 64 bytes/);
  assert.deepEqual(decodeElements(bytes.subarray(16, 32), 1), [1n]);
});

test("random elements: rejection below p (p itself and values above are drawn again, never reduced)", () => {
  // a source that first offers p = 2^127 - 1 with the top bit set (masked to p: rejected), then 5
  const pBytes = new Uint8Array(16).fill(0xff);
  const five = new Uint8Array(16);
  five[15] = 5;
  const offers = [pBytes, five];
  const drawn = randomElements(1, P127, (n) => {
    assert.equal(n, 16);
    return /** @type {Uint8Array} */ (offers.shift()).slice();
  });
  assert.deepEqual(drawn, [5n]);
  assert.equal(offers.length, 0);
  // a small prime: 13 (4 bits, from one 64-bit word); candidates 13, 14, 15 are rejected, not reduced mod 13
  const seq = [0xfd, 0x0f, 0xae, 0x0c];
  const word = (/** @type {number} */ low) => Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, low);
  assert.deepEqual(randomElements(1, 13n, (n) => {
    assert.equal(n, 8);
    return word(/** @type {number} */ (seq.shift()));
  }), [12n]);
  assert.equal(seq.length, 0);
  const many = randomElements(2000, 13n);
  assert.ok(many.every((v) => v >= 0n && v < 13n));
  assert.equal(new Set(many).size, 13);
  const big = randomElements(64);
  assert.ok(big.every((v) => v >= 0n && v < P127));
  assert.ok(big.some((v) => v >= 1n << 126n), "the top bit of 127 is used");
});

test("shamir.json: the word-arithmetic bulk path (shareBlock) gives the known shares when fed their coefficients", () => {
  for (const c of SHAMIR.cases.filter((/** @type {any} */ c) => BigInt(c.p) === P127)) {
    const coeffs = encodeElements(c.coefficients.flat().map(BigInt));
    const blocks = shareBlock(encodeElements(c.secrets.map(BigInt)), c.n, c.t, replay(coeffs));
    assert.deepEqual(blocks.map((b) => decodeElements(b, c.secrets.length)), c.shares.map((/** @type {string[]} */ r) => r.map(BigInt)), c.name);
  }
});

test("shareBlock agrees with the BigInt path on values near p and on many random polynomials", () => {
  const edge = [0n, 1n, 2n, P127 - 1n, P127 - 2n, (1n << 126n), (1n << 96n) - 1n, (1n << 64n), 0xffffffffn];
  const secrets = [...edge, ...randomElements(200)];
  for (const [n, t] of [[3, 1], [5, 2], [7, 3], [31, 15]]) {
    const coeffs = [...edge.flatMap((e) => Array(t).fill(e)), ...randomElements(200 * t)];
    const blocks = shareBlock(encodeElements(secrets), n, t, replay(encodeElements(coeffs)));
    const expected = shareVectorWithCoefficients(secrets, secrets.map((_, j) => coeffs.slice(j * t, (j + 1) * t)), n);
    blocks.forEach((b, i) => assert.deepEqual(decodeElements(b, secrets.length), expected[i], `n=${n} t=${t} node ${i}`));
  }
  assert.throws(() => shareBlock(encodeElements([P127 - 1n]).map((x, k) => (k === 15 ? 0xff : x)), 3, 1), /not a reduced/);
  assert.throws(() => shareBlock(new Uint8Array(15), 3, 1), /wrong size/);
});

test("shareBlock with fresh randomness: for n = 3..7 and every t, every t+1 nodes reconstruct, all n agree", () => {
  const secrets = [0n, 1n, P127 - 1n, P127 - 2n, 1n << 126n, ...randomElements(40)];
  for (let n = 3; n <= 7; n++) {
    for (let t = 1; 2 * t < n; t++) {
      const shares = shareBlock(encodeElements(secrets), n, t).map((b) => decodeElements(b, secrets.length));
      for (const subset of subsets(n, t + 1)) {
        assert.deepEqual(reconstruct(new Map(subset.map((i) => [i, shares[i]])), t), secrets, `n=${n} t=${t} ${subset}`);
      }
      assert.deepEqual(reconstruct(new Map(shares.map((s, i) => [i, s])), t), secrets, `n=${n} t=${t} all`);
    }
  }
});

test("shareBlock: coefficients 0, 1 and p - 1 in every position match the BigInt path", () => {
  const edge = [0n, 1n, P127 - 1n];
  const secrets = edge.flatMap((s) => Array(9).fill(s));
  for (const [n, t] of [[3, 1], [5, 2], [7, 3]]) {
    const coeffs = secrets.map((_, j) => Array.from({ length: t }, (_, k) => edge[(Math.floor(j / 3 ** k)) % 3]));
    const blocks = shareBlock(encodeElements(secrets), n, t, replay(encodeElements(coeffs.flat())));
    const expected = shareVectorWithCoefficients(secrets, coeffs, n);
    blocks.forEach((b, i) => assert.deepEqual(decodeElements(b, secrets.length), expected[i], `n=${n} t=${t} node ${i}`));
  }
});

test("shareBlock: the rare carries of the reduction (out of the low limb, into bit 127) give the BigInt path's shares", () => {
  // node 1: 2^126 * 2 + (2^32 - 1) = 2^127 + 2^32 - 1 (the folded bit carries out of the low limb);
  // node 2: (p - 1) * 3 + 4 = 2^128 - 2 (the fold carries into bit 127, then folds again to 1)
  const secrets = [0xffffffffn, 4n, P127 - 1n];
  const coeffs = [[1n << 126n], [P127 - 1n], [P127 - 1n]];
  const blocks = shareBlock(encodeElements(secrets), 3, 1, replay(encodeElements(coeffs.flat())));
  const expected = shareVectorWithCoefficients(secrets, coeffs, 3);
  assert.equal(expected[1][0], 1n << 32n);
  assert.equal(expected[2][1], 1n);
  blocks.forEach((b, i) => assert.deepEqual(decodeElements(b, secrets.length), expected[i], `node ${i}`));
});

test("shareBlock draws its coefficients in chunks, in order, as one randomBlock draw would give them", () => {
  const count = 8192 + 5;
  const secrets = randomElements(count);
  const coeffs = randomElements(count);
  /** @type {number[]} */
  const sizes = [];
  const source = replay(encodeElements(coeffs));
  const blocks = shareBlock(encodeElements(secrets), 3, 1, (k) => { sizes.push(k); return source(k); });
  assert.deepEqual(sizes, [8192 * 16, 5 * 16]);
  const expected = shareVectorWithCoefficients(secrets, coeffs.map((c) => [c]), 3);
  blocks.forEach((b, i) => assert.deepEqual(decodeElements(b, count), expected[i]));
});

test("shareBlockInto writes into views of a larger buffer and nothing around them", () => {
  const secrets = encodeElements([5n, P127 - 1n]);
  const coeffs = encodeElements([7n, 9n]);
  const buffer = new Uint8Array(3 * 40).fill(0xee);
  const outs = [0, 1, 2].map((i) => buffer.subarray(40 * i + 4, 40 * i + 36));
  shareBlockInto(secrets, outs, 1, replay(coeffs));
  const expected = shareVectorWithCoefficients([5n, P127 - 1n], [[7n], [9n]], 3);
  outs.forEach((o, i) => assert.deepEqual(decodeElements(o, 2), expected[i]));
  [0, 1, 2].forEach((i) => assert.ok([...buffer.subarray(40 * i, 40 * i + 4), ...buffer.subarray(40 * i + 36, 40 * i + 40)]
    .every((b) => b === 0xee)));
  assert.throws(() => shareBlockInto(secrets, [outs[0], outs[1], new Uint8Array(16)], 1), /share buffer has the wrong size/);
});

test("rowsBlock is encodeElements of the rows, row after row", () => {
  const rows = [[0n, 1n, (1n << 53n) - 1n, 1n << 53n], [P127 - 1n, 0xffffffffn, 1n << 32n, 12345678901234567n]];
  assert.deepEqual(rowsBlock(rows), encodeElements(rows.flat()));
  assert.throws(() => rowsBlock([[P127]]), /not a reduced/);
  assert.throws(() => rowsBlock([[-1n]]), /not a reduced/);
});

test("randomBlock draws exactly what randomElements draws from the same bytes (p itself rejected)", () => {
  const bytes = new Uint8Array(16 * 6).map((_, k) => (k * 53 + 11) & 255);
  bytes.fill(0xff, 16, 32); // the second candidate is p once its top bit is cleared: drawn again
  const more = new Uint8Array(16).fill(3);
  const source = () => replay(new Uint8Array([...bytes, ...more]));
  const words = randomBlock(6, source());
  assert.deepEqual(decodeElements(words, 6), randomElements(6, P127, source()));
  assert.ok(!decodeElements(words, 6).includes(P127));
});

test("shareRows: records row-major, each row a sharing of its record", () => {
  const rows = [[1n, 2n], [3n, P127 - 1n]];
  const blocks = shareRows(rows, 5, 2);
  rows.forEach((row, r) => {
    const shares = new Map(blocks.map((b, i) => [i, decodeElements(b.subarray(32 * r, 32 * (r + 1)), 2)]));
    assert.deepEqual(reconstruct(shares, 2), row);
  });
  assert.throws(() => shareRows([[P127]], 3, 1), /not a reduced/);
  assert.throws(() => shareRows([[1n], [1n, 2n]], 3, 1), /different widths/);
});

test("inverse mod p", () => {
  assert.equal((inverse(52000n) * 52000n) % P127, 1n);
  assert.throws(() => inverse(0n), /no inverse/);
});

/**
 * @param {number} n
 * @param {number} k
 * @returns {number[][]}
 */
function subsets(n, k) {
  if (k === 0) return [[]];
  const out = [];
  for (let first = 0; first <= n - k; first++) {
    for (const rest of subsets(n - first - 1, k - 1)) out.push([first, ...rest.map((x) => x + first + 1)]);
  }
  return out;
}

/**
 * A random source that hands out the given bytes in order (and fails past their end).
 * @param {Uint8Array} bytes
 */
function replay(bytes) {
  let at = 0;
  return (/** @type {number} */ count) => {
    assert.ok(at + count <= bytes.length, "drew more than was planned");
    at += count;
    return bytes.slice(at - count, at);
  };
}
