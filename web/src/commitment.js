/**
 * The submission certificate, as protocol/commitment.py: a contributor's signed commitment to
 * the share of every node.
 *
 * One record: a fresh Ed25519 key pair; the submission id is the hash of its public key
 * (``SHA-256(label || pk)``, first 16 bytes, hex); node j's share vector is committed as
 * ``C_j = SHA-256(label || manifest hash || id || j (u16) || share bytes)``; the certificate is
 * ``pk || sign(label || manifest hash || id || C_0..C_{n-1}) || C_0..C_{n-1}``, the same for
 * every node.  The key is used once and thrown away.
 *
 * A batch of K records (an HR file): one key; record r's id is the first 12 bytes of
 * ``SHA-256(label || pk)`` in hex followed by r as 8 hex digits; its leaf is
 * ``SHA-256(label || manifest hash || id || C_0..C_{n-1})``; the leaves, padded with a fixed empty
 * leaf to a power of two, form a Merkle tree (``node = SHA-256(label || left || right)``) whose
 * root the key signs with K (``label || manifest hash || K (u32) || root``).  Record r's
 * certificate is ``pk || signature || K (u32) || r (u32) || path || C_0..C_{n-1}`` and verifies on
 * its own.
 *
 * Share commitments hash whole share vectors (most of a batch's bytes) with WebCrypto, so the
 * functions that compute them are async; the small hashes use @noble/hashes.
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesEqual, concat, fromHex, readUintBE, secureRandomBytes, sha256Native, toHex, uintBE } from "./bytes.js";
import { InvalidSubmission } from "./errors.js";
import { labelBytes } from "./labels.js";

export const PK_BYTES = 32;
export const SIG_BYTES = 64;
export const COMMIT_BYTES = 32;
/** records per batch: a Merkle path of at most 12 hashes */
export const MAX_BATCH = 4096;
const HEAD = PK_BYTES + SIG_BYTES + 8;
const EMPTY_LEAF = sha256(labelBytes("BATCH_EMPTY_LEAF"));
/** RFC 8032 verification (no ZIP-215 leniency), as OpenSSL's. */
const STRICT = { zip215: false };

/** @param {number} k */
const depth = (k) => (k <= 1 ? 0 : (k - 1).toString(2).length);

/**
 * Length of a single upload's certificate.
 * @param {number} n
 */
export function certificateLength(n) {
  return PK_BYTES + SIG_BYTES + COMMIT_BYTES * n;
}

/**
 * Length of the certificate of one record of a batch of ``k`` records.
 * @param {number} n
 * @param {number} k
 */
export function batchCertificateLength(n, k) {
  return HEAD + 32 * depth(k) + COMMIT_BYTES * n;
}

/**
 * A fresh one-time Ed25519 secret key, from ``crypto.getRandomValues``.
 * @returns {Uint8Array}
 */
export function newSigningKey() {
  return secureRandomBytes(32);
}

/**
 * The submission id bound to a certificate key: 32 hex characters.
 * @param {Uint8Array} publicKey
 * @returns {string}
 */
export function submissionIdFor(publicKey) {
  return toHex(sha256(concat(labelBytes("SUBMISSION_ID"), publicKey))).slice(0, 32);
}

/**
 * C_j over node j's share vector as sealed (16-byte big-endian elements).
 * @param {Uint8Array} manifestHash
 * @param {string} submissionId
 * @param {number} nodeIndex
 * @param {Uint8Array} shareBytes
 * @returns {Promise<Uint8Array>}
 */
export async function shareCommitment(manifestHash, submissionId, nodeIndex, shareBytes) {
  return sha256Native(concat(labelBytes("SHARE_COMMITMENT"), manifestHash, fromHex(submissionId), uintBE(nodeIndex, 2), shareBytes));
}

/**
 * @param {Uint8Array} manifestHash
 * @param {string} submissionId
 * @param {Uint8Array} commitments
 */
function signedMessage(manifestHash, submissionId, commitments) {
  return concat(labelBytes("SUBMISSION_CERTIFICATE"), manifestHash, fromHex(submissionId), commitments);
}

/**
 * The submission id and certificate for the given per-node share vectors.  The secret key is
 * fresh unless given (known-answer tests), used once and wiped.
 * @param {Uint8Array} manifestHash
 * @param {ReadonlyArray<Uint8Array>} shareBytes node j's share vector, 16-byte elements
 * @param {Uint8Array} [secretKey]
 * @returns {Promise<{submissionId: string, certificate: Uint8Array}>}
 */
export async function makeCertificate(manifestHash, shareBytes, secretKey) {
  const sk = secretKey ? secretKey.slice() : newSigningKey();
  const pk = ed25519.getPublicKey(sk);
  const submissionId = submissionIdFor(pk);
  const commits = concat(...await Promise.all(shareBytes.map((sb, j) => shareCommitment(manifestHash, submissionId, j, sb))));
  const signature = ed25519.sign(signedMessage(manifestHash, submissionId, commits), sk);
  sk.fill(0);
  return { submissionId, certificate: concat(pk, signature, commits) };
}

/**
 * A verified certificate: its key, signature and every node's commitment.
 * @typedef {{publicKey: Uint8Array, signature: Uint8Array, commitments: Uint8Array[]}} Certificate
 */

/**
 * Parse and verify a single upload's or a batch record's certificate, as a node does; throws
 * {@link InvalidSubmission} with the node's message.
 * @param {Uint8Array} cert
 * @param {string} submissionId
 * @param {number} n
 * @param {Uint8Array} manifestHash
 * @returns {Certificate}
 */
export function verifyCertificate(cert, submissionId, n, manifestHash) {
  if (cert.length !== certificateLength(n) && cert.length >= HEAD) return verifyBatchRecord(cert, submissionId, n, manifestHash);
  if (cert.length !== certificateLength(n)) {
    throw new InvalidSubmission(`submission certificate must be ${certificateLength(n)} bytes for ${n} nodes`);
  }
  const pk = cert.slice(0, PK_BYTES);
  const sig = cert.slice(PK_BYTES, PK_BYTES + SIG_BYTES);
  const commits = cert.slice(PK_BYTES + SIG_BYTES);
  if (submissionIdFor(pk) !== submissionId) throw new InvalidSubmission("submission id is not the hash of the certificate's key");
  if (!verifies(sig, signedMessage(manifestHash, submissionId, commits), pk)) {
    throw new InvalidSubmission("submission certificate signature does not verify");
  }
  return { publicKey: pk, signature: sig, commitments: split(commits, n) };
}

/**
 * Throw {@link InvalidSubmission} unless ``shareBytes`` is what the certificate commits to for
 * this node.
 * @param {Certificate} cert
 * @param {Uint8Array} manifestHash
 * @param {string} submissionId
 * @param {number} nodeIndex
 * @param {Uint8Array} shareBytes
 * @returns {Promise<void>}
 */
export async function checkShare(cert, manifestHash, submissionId, nodeIndex, shareBytes) {
  if (!bytesEqual(await shareCommitment(manifestHash, submissionId, nodeIndex, shareBytes), cert.commitments[nodeIndex])) {
    throw new InvalidSubmission("share does not match the contributor's signed commitment for this node");
  }
}

/**
 * The id of record ``index`` of the batch signed by ``publicKey``: 24 hex characters from the
 * key, 8 for the index (a batch's ids are adjacent in a node's index).
 * @param {Uint8Array} publicKey
 * @param {number} index
 * @returns {string}
 */
export function batchRecordId(publicKey, index) {
  if (!Number.isInteger(index) || index < 0 || index >= 2 ** 32) throw new RangeError("batch record index out of range");
  return toHex(sha256(concat(labelBytes("BATCH_RECORD_ID"), publicKey))).slice(0, 24) + index.toString(16).padStart(8, "0");
}

/**
 * 16 bytes bound into the HPKE info of a batch's sealed blocks (as a submission id is).
 * @param {Uint8Array} publicKey
 * @returns {Uint8Array}
 */
export function batchEnvelopeId(publicKey) {
  return sha256(concat(labelBytes("BATCH_ENVELOPE_ID"), publicKey)).slice(0, 16);
}

/**
 * @param {Uint8Array} manifestHash
 * @param {string} submissionId
 * @param {Uint8Array} commitments
 */
function leaf(manifestHash, submissionId, commitments) {
  return sha256(concat(labelBytes("BATCH_LEAF"), manifestHash, fromHex(submissionId), commitments));
}

/**
 * @param {Uint8Array} left
 * @param {Uint8Array} right
 */
function merkleNode(left, right) {
  return sha256(concat(labelBytes("BATCH_NODE"), left, right));
}

/**
 * The Merkle tree bottom-up, leaves padded with the empty leaf to a power of two.
 * @param {Uint8Array[]} leaves
 * @returns {Uint8Array[][]}
 */
function levels(leaves) {
  let level = leaves.concat(Array((1 << depth(leaves.length)) - leaves.length).fill(EMPTY_LEAF));
  const out = [level];
  while (level.length > 1) {
    const up = [];
    for (let i = 0; i < level.length; i += 2) up.push(merkleNode(level[i], level[i + 1]));
    level = up;
    out.push(level);
  }
  return out;
}

/**
 * @param {Uint8Array} manifestHash
 * @param {number} k
 * @param {Uint8Array} root
 */
function batchMessage(manifestHash, k, root) {
  return concat(labelBytes("BATCH_CERTIFICATE"), manifestHash, uintBE(k, 4), root);
}

/** A signed (or verified) batch: key, signature, record ids and every record's commitments. */
export class Batch {
  /**
   * @param {Uint8Array} publicKey
   * @param {Uint8Array} signature
   * @param {string[]} ids
   * @param {Uint8Array[]} commitments commitments[r] = C_0..C_{n-1} of record r, concatenated
   * @param {Uint8Array[][]} tree the Merkle tree's levels, leaves first
   */
  constructor(publicKey, signature, ids, commitments, tree) {
    this.publicKey = publicKey;
    this.signature = signature;
    this.ids = Object.freeze(ids);
    this.commitments = Object.freeze(commitments);
    this.tree = tree;
    Object.freeze(this);
  }

  /** @returns {Uint8Array} every record's commitments, record-major (the upload's field) */
  allCommitments() {
    return concat(...this.commitments);
  }

  /**
   * Record r's stand-alone certificate (verifies with {@link verifyCertificate}).
   * @param {number} r
   * @returns {Uint8Array}
   */
  certificate(r) {
    const path = [];
    let i = r;
    for (const level of this.tree.slice(0, -1)) {
      path.push(level[i ^ 1]);
      i >>= 1;
    }
    return concat(this.publicKey, this.signature, uintBE(this.ids.length, 4), uintBE(r, 4), ...path, this.commitments[r]);
  }
}

/**
 * @param {Uint8Array} manifestHash
 * @param {Uint8Array} pk
 * @param {Uint8Array[]} commitments
 * @param {(message: Uint8Array) => Uint8Array} sign
 */
function buildBatch(manifestHash, pk, commitments, sign) {
  const ids = commitments.map((_, r) => batchRecordId(pk, r));
  const tree = levels(ids.map((id, r) => leaf(manifestHash, id, commitments[r])));
  const signature = sign(batchMessage(manifestHash, ids.length, tree[tree.length - 1][0]));
  return new Batch(pk, signature, ids, commitments, tree);
}

/**
 * Sign a batch: ``shareRows[r][j]`` is node j's share vector of record r (16-byte elements).
 * One fresh key for the whole batch (unless given, for tests), used once and wiped.
 * @param {Uint8Array} manifestHash
 * @param {ReadonlyArray<ReadonlyArray<Uint8Array>>} shareRows
 * @param {Uint8Array} [secretKey]
 * @returns {Promise<Batch>}
 */
export async function makeBatch(manifestHash, shareRows, secretKey) {
  if (!(shareRows.length >= 1 && shareRows.length <= MAX_BATCH)) throw new RangeError(`a batch holds 1 to ${MAX_BATCH} records`);
  const sk = secretKey ? secretKey.slice() : newSigningKey();
  const pk = ed25519.getPublicKey(sk);
  const commitments = await Promise.all(shareRows.map(async (row, r) => {
    const id = batchRecordId(pk, r);
    return concat(...await Promise.all(row.map((sb, j) => shareCommitment(manifestHash, id, j, sb))));
  }));
  const batch = buildBatch(manifestHash, pk, commitments, (message) => ed25519.sign(message, sk));
  sk.fill(0);
  return batch;
}

/**
 * A node's check of a bulk upload's batch certificate (one signature for all k records);
 * throws {@link InvalidSubmission} with the node's message.
 * @param {Uint8Array} publicKey
 * @param {Uint8Array} signature
 * @param {Uint8Array} commitments k x n x 32 bytes
 * @param {number} k
 * @param {number} n
 * @param {Uint8Array} manifestHash
 * @returns {Batch}
 */
export function verifyBatch(publicKey, signature, commitments, k, n, manifestHash) {
  if (!(k >= 1 && k <= MAX_BATCH)) throw new InvalidSubmission(`a batch holds 1 to ${MAX_BATCH} records`);
  if (publicKey.length !== PK_BYTES || signature.length !== SIG_BYTES) {
    throw new InvalidSubmission("batch key or signature has the wrong length");
  }
  if (commitments.length !== k * n * COMMIT_BYTES) {
    throw new InvalidSubmission(`batch commitments must be ${k * n * COMMIT_BYTES} bytes for ${k} records and ${n} nodes`);
  }
  const w = n * COMMIT_BYTES;
  const rows = Array.from({ length: k }, (_, r) => commitments.slice(w * r, w * (r + 1)));
  const batch = buildBatch(manifestHash, publicKey, rows, () => signature);
  if (!verifies(signature, batchMessage(manifestHash, k, batch.tree[batch.tree.length - 1][0]), publicKey)) {
    throw new InvalidSubmission("batch certificate signature does not verify");
  }
  return batch;
}

/**
 * @param {Uint8Array} cert
 * @param {string} submissionId
 * @param {number} n
 * @param {Uint8Array} manifestHash
 * @returns {Certificate}
 */
function verifyBatchRecord(cert, submissionId, n, manifestHash) {
  const pk = cert.slice(0, PK_BYTES);
  const sig = cert.slice(PK_BYTES, PK_BYTES + SIG_BYTES);
  const k = readUintBE(cert, PK_BYTES + SIG_BYTES, 4);
  const r = readUintBE(cert, PK_BYTES + SIG_BYTES + 4, 4);
  if (!(k >= 1 && k <= MAX_BATCH && r < k) || cert.length !== batchCertificateLength(n, k)) {
    throw new InvalidSubmission(`submission certificate must be ${certificateLength(n)} bytes for ${n} nodes, or a `
      + "well-formed batch record certificate");
  }
  if (batchRecordId(pk, r) !== submissionId) {
    throw new InvalidSubmission("submission id is not the hash of the certificate's key and record index");
  }
  const d = depth(k);
  const commits = cert.slice(HEAD + 32 * d);
  let node = leaf(manifestHash, submissionId, commits);
  for (let level = 0, i = r; level < d; level++, i >>= 1) {
    const sibling = cert.slice(HEAD + 32 * level, HEAD + 32 * (level + 1));
    node = i & 1 ? merkleNode(sibling, node) : merkleNode(node, sibling);
  }
  if (!verifies(sig, batchMessage(manifestHash, k, node), pk)) {
    throw new InvalidSubmission("submission certificate signature does not verify");
  }
  return { publicKey: pk, signature: sig, commitments: split(commits, n) };
}

/**
 * @param {Uint8Array} sig
 * @param {Uint8Array} message
 * @param {Uint8Array} pk
 * @returns {boolean}
 */
function verifies(sig, message, pk) {
  try {
    return ed25519.verify(sig, message, pk, STRICT);
  } catch {
    return false;
  }
}

/**
 * @param {Uint8Array} commits
 * @param {number} n
 */
function split(commits, n) {
  return Array.from({ length: n }, (_, j) => commits.slice(COMMIT_BYTES * j, COMMIT_BYTES * (j + 1)));
}
