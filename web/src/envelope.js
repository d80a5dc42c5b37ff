/**
 * Sealed envelopes: HPKE (RFC 9180, base mode) with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
 * ChaCha20-Poly1305, as protocol/envelope.py.  The info binds every ciphertext to its purpose,
 * the survey (manifest hash), the node it is for and the submission id (or a batch's envelope
 * id), so a ciphertext replayed to another node, survey or submission does not open.
 *
 * Wire form: ``enc (32 bytes) || AEAD ciphertext``.  One record's share plaintext:
 * ``"SSH1" || u16 count || count x 16-byte elements``; a batch's block:
 * ``"SSB1" || u32 rows || u16 width || rows x width elements``, row-major.
 */

import { CipherSuite, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { DhkemX25519HkdfSha256 } from "@hpke/dhkem-x25519";
import { concat, fromHex, readUintBE, uintBE } from "./bytes.js";
import { DecryptionFailed, InvalidSubmission } from "./errors.js";
import { ELEMENT_BYTES } from "./field.js";
import { labelBytes } from "./labels.js";

export const ENC_LEN = 32;
export const TAG_LEN = 16;
export const SUBMISSION_ID_BYTES = 16;
const SHARE_MAGIC = Uint8Array.from([0x53, 0x53, 0x48, 0x31]); // "SSH1"
const BLOCK_MAGIC = Uint8Array.from([0x53, 0x53, 0x42, 0x31]); // "SSB1"

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Chacha20Poly1305(),
});

/**
 * The HPKE info of node ``nodeIndex``'s share of one submission (or batch) of a survey.
 * @param {Uint8Array} manifestHash 32 bytes
 * @param {number} nodeIndex
 * @param {Uint8Array} submissionId 16 bytes (a batch: its envelope id)
 * @returns {Uint8Array}
 */
export function shareInfo(manifestHash, nodeIndex, submissionId) {
  if (manifestHash.length !== 32 || submissionId.length !== SUBMISSION_ID_BYTES) {
    throw new RangeError("manifest hash must be 32 bytes and submission id 16 bytes");
  }
  return concat(labelBytes("SUBMISSION_SHARE"), manifestHash, uintBE(nodeIndex, 2), submissionId);
}

/**
 * The HPKE info of node ``nodeIndex``'s result share, sealed to the analyst.
 * @param {Uint8Array} manifestHash
 * @param {number} nodeIndex
 */
export function resultInfo(manifestHash, nodeIndex) {
  return concat(labelBytes("RESULT_SHARE"), manifestHash, uintBE(nodeIndex, 2));
}

/**
 * Exact byte length of a sealed share vector of ``vectorLength`` elements.
 * @param {number} vectorLength
 */
export function sealedShareLength(vectorLength) {
  return ENC_LEN + SHARE_MAGIC.length + 2 + vectorLength * ELEMENT_BYTES + TAG_LEN;
}

/**
 * Single-shot HPKE seal: ``enc || ciphertext``.
 * @param {string} publicKeyHex the recipient's raw X25519 public key, hex
 * @param {Uint8Array} info
 * @param {Uint8Array} plaintext
 * @returns {Promise<Uint8Array>}
 */
export async function hpkeSeal(publicKeyHex, info, plaintext) {
  const recipientPublicKey = await suite.kem.deserializePublicKey(fromHex(publicKeyHex));
  const { enc, ct } = await suite.seal({ recipientPublicKey, info }, plaintext);
  return concat(new Uint8Array(enc), new Uint8Array(ct));
}

/**
 * Single-shot HPKE open of ``enc || ciphertext``; throws {@link DecryptionFailed}.
 * @param {Uint8Array} privateKey the recipient's raw X25519 private key
 * @param {Uint8Array} info
 * @param {Uint8Array} sealed
 * @returns {Promise<Uint8Array>}
 */
export async function hpkeOpen(privateKey, info, sealed) {
  try {
    const recipientKey = await suite.kem.importKey("raw", privateKey.slice().buffer, false);
    const enc = sealed.slice(0, ENC_LEN);
    return new Uint8Array(await suite.open({ recipientKey, enc, info }, sealed.slice(ENC_LEN)));
  } catch {
    throw new DecryptionFailed("sealed data does not open: tampered, or sealed for another survey, node or submission");
  }
}

/**
 * Seal one node's share vector of one submission to that node's HPKE key.
 * @param {Uint8Array} elements the share vector as committed: 16-byte big-endian elements
 * @param {string} nodePublicKeyHex
 * @param {Uint8Array} manifestHash
 * @param {number} nodeIndex
 * @param {Uint8Array} submissionId 16 bytes
 * @returns {Promise<Uint8Array>}
 */
export async function sealShares(elements, nodePublicKeyHex, manifestHash, nodeIndex, submissionId) {
  if (elements.length % ELEMENT_BYTES !== 0) throw new RangeError("share vector is not whole elements");
  const plaintext = concat(SHARE_MAGIC, uintBE(elements.length / ELEMENT_BYTES, 2), elements);
  return hpkeSeal(nodePublicKeyHex, shareInfo(manifestHash, nodeIndex, submissionId), plaintext);
}

/**
 * Open a sealed share vector into its element bytes (``vectorLength`` x 16), as a node does;
 * checks format and length only.  Throws {@link DecryptionFailed} or {@link InvalidSubmission}.
 * @param {Uint8Array} sealed
 * @param {Uint8Array} nodePrivateKey
 * @param {Uint8Array} manifestHash
 * @param {number} nodeIndex
 * @param {Uint8Array} submissionId
 * @param {number} vectorLength
 * @returns {Promise<Uint8Array>}
 */
export async function openShares(sealed, nodePrivateKey, manifestHash, nodeIndex, submissionId, vectorLength) {
  const plaintext = await hpkeOpen(nodePrivateKey, shareInfo(manifestHash, nodeIndex, submissionId), sealed);
  if (plaintext.length < 6 || !startsWith(plaintext, SHARE_MAGIC)) throw new InvalidSubmission("sealed payload has the wrong format");
  const count = readUintBE(plaintext, 4, 2);
  if (count !== vectorLength) {
    throw new InvalidSubmission(`share vector has ${count} entries, the survey expects ${vectorLength}`);
  }
  const body = plaintext.slice(6);
  if (body.length !== count * ELEMENT_BYTES) {
    throw new InvalidSubmission(`share vector is malformed: expected ${count} field elements, got ${body.length} bytes`);
  }
  return body;
}

/**
 * Seal one node's share vectors of a whole batch (``rows`` x ``width`` elements, row-major) to
 * that node's HPKE key, bound to the batch's envelope id.
 * @param {Uint8Array} block
 * @param {number} rows
 * @param {number} width
 * @param {string} nodePublicKeyHex
 * @param {Uint8Array} manifestHash
 * @param {number} nodeIndex
 * @param {Uint8Array} envelopeId 16 bytes (commitment.batchEnvelopeId)
 * @returns {Promise<Uint8Array>}
 */
export async function sealShareBlock(block, rows, width, nodePublicKeyHex, manifestHash, nodeIndex, envelopeId) {
  if (block.length !== rows * width * ELEMENT_BYTES) throw new RangeError("share block has the wrong size");
  const frame = shareBlockFrame(rows, width);
  frame.elements.set(block);
  return sealShareBlockFrame(frame.plaintext, nodePublicKeyHex, manifestHash, nodeIndex, envelopeId);
}

/**
 * A batch block's plaintext, ``"SSB1" || u32 rows || u16 width`` then ``rows`` x ``width``
 * zero elements, and ``elements``, the view of those elements: fill it (e.g. with
 * field.shareBlockInto) and seal ``plaintext`` with {@link sealShareBlockFrame}, and the share
 * block is never copied into a frame.
 * @param {number} rows
 * @param {number} width
 * @returns {{plaintext: Uint8Array, elements: Uint8Array}}
 */
export function shareBlockFrame(rows, width) {
  const header = concat(BLOCK_MAGIC, uintBE(rows, 4), uintBE(width, 2));
  const plaintext = new Uint8Array(header.length + rows * width * ELEMENT_BYTES);
  plaintext.set(header);
  return { plaintext, elements: plaintext.subarray(header.length) };
}

/**
 * Seal a batch block's plaintext from {@link shareBlockFrame} (as {@link sealShareBlock} seals
 * its block); throws RangeError if its header does not announce its length.
 * @param {Uint8Array} plaintext
 * @param {string} nodePublicKeyHex
 * @param {Uint8Array} manifestHash
 * @param {number} nodeIndex
 * @param {Uint8Array} envelopeId 16 bytes (commitment.batchEnvelopeId)
 * @returns {Promise<Uint8Array>}
 */
export async function sealShareBlockFrame(plaintext, nodePublicKeyHex, manifestHash, nodeIndex, envelopeId) {
  if (plaintext.length < 10 || !startsWith(plaintext, BLOCK_MAGIC)
    || plaintext.length !== 10 + readUintBE(plaintext, 4, 4) * readUintBE(plaintext, 8, 2) * ELEMENT_BYTES) {
    throw new RangeError("share block frame has the wrong header or size");
  }
  return hpkeSeal(nodePublicKeyHex, shareInfo(manifestHash, nodeIndex, envelopeId), plaintext);
}

/**
 * Open a batch's sealed share block, as a node does; checks format and shape.
 * @param {Uint8Array} sealed
 * @param {Uint8Array} nodePrivateKey
 * @param {Uint8Array} manifestHash
 * @param {number} nodeIndex
 * @param {Uint8Array} envelopeId
 * @param {number} rows
 * @param {number} width
 * @returns {Promise<Uint8Array>}
 */
export async function openShareBlock(sealed, nodePrivateKey, manifestHash, nodeIndex, envelopeId, rows, width) {
  const plaintext = await hpkeOpen(nodePrivateKey, shareInfo(manifestHash, nodeIndex, envelopeId), sealed);
  if (plaintext.length < 10 || !startsWith(plaintext, BLOCK_MAGIC)) throw new InvalidSubmission("sealed share block has the wrong format");
  const gotRows = readUintBE(plaintext, 4, 4);
  const gotWidth = readUintBE(plaintext, 8, 2);
  if (gotRows !== rows || gotWidth !== width || plaintext.length !== 10 + rows * width * ELEMENT_BYTES) {
    throw new InvalidSubmission(`share block holds ${gotRows} x ${gotWidth} entries; the upload announces ${rows} `
      + `records and the survey expects ${width} entries each`);
  }
  return plaintext.slice(10);
}

/**
 * @param {Uint8Array} data
 * @param {Uint8Array} prefix
 */
function startsWith(data, prefix) {
  return prefix.every((b, i) => data[i] === b);
}
