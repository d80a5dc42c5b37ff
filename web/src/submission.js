/**
 * One record or one batch of records made ready to send, as contributor/submission.py and
 * contributor/bulk.py make them, from the record's final vector (the encoded record with its
 * validity proof, computed before this step): Shamir-share it over the manifest's field (node
 * i gets f(i + 1)), commit to every node's share and sign with a fresh one-time key (its hash is
 * the submission id), and seal node i's share to node i's HPKE key, bound to the manifest hash,
 * i and the id.  A prepared upload is sent as it is on every retry: the same id and the same
 * envelope bytes, which a node that already stored it answers "duplicate".
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { fromHex, toHex } from "./bytes.js";
import { batchEnvelopeId, makeBatch, makeCertificate } from "./commitment.js";
import { sealShareBlockFrame, sealShares, shareBlockFrame } from "./envelope.js";
import { ELEMENT_BYTES, encodeElements, rowsBlock, shareBlock, shareBlockInto } from "./field.js";
import { bulkBodyToBytes, submissionUploadJson } from "./wire.js";

/** @import { Manifest } from "./manifest.js" */

/**
 * One record, shared, certified and sealed: ``envelopes[i]`` is node i's.
 * @typedef {object} PreparedSubmission
 * @property {string} surveyId
 * @property {string} manifestHash hex
 * @property {string} submissionId 32 lowercase hex, the same at every node
 * @property {boolean} replace
 * @property {Uint8Array[]} envelopes
 * @property {Uint8Array} certificate the same for every node
 */

/**
 * Share, certify and seal one record's vector.
 * @param {Manifest} manifest
 * @param {readonly bigint[]} vector the encoded record with its proof, each entry below p
 * @param {{replace?: boolean}} [options]
 * @returns {Promise<PreparedSubmission>}
 */
export async function prepareSubmission(manifest, vector, options = {}) {
  if (!vector.length) throw new RangeError("a record vector has at least one entry");
  const mh = manifest.hash();
  const shares = shareBlock(encodeElements(vector), manifest.n, manifest.threshold);
  const { submissionId, certificate } = await makeCertificate(mh, shares);
  const id = fromHex(submissionId);
  const envelopes = await Promise.all(manifest.nodes.map((nd, i) => sealShares(shares[i], nd.hpkePublicKey, mh, i, id)));
  shares.forEach((s) => s.fill(0));
  return { surveyId: manifest.surveyId, manifestHash: toHex(mh), submissionId, replace: Boolean(options.replace), envelopes, certificate };
}

/**
 * The JSON body of node ``index``'s upload of a prepared record.
 * @param {PreparedSubmission} prepared
 * @param {number} index
 * @param {string} token
 * @returns {string}
 */
export function submissionBody(prepared, index, token) {
  return submissionUploadJson({
    submissionId: prepared.submissionId, token, envelope: prepared.envelopes[index], certificate: prepared.certificate,
    replace: prepared.replace,
  });
}

/**
 * K records shared, committed, signed (one key) and sealed as one block per node.
 * @typedef {object} PreparedBatch
 * @property {string} surveyId
 * @property {string} manifestHash hex
 * @property {boolean} replace
 * @property {Uint8Array} batchKey
 * @property {Uint8Array} signature
 * @property {Uint8Array} commitments K x n x 32 bytes
 * @property {ReadonlyArray<string>} ids the records' submission ids, in order
 * @property {Uint8Array[]} envelopes node i's sealed share block
 */

/**
 * Share, certify (one batch certificate) and seal a batch of record vectors.
 * @param {Manifest} manifest
 * @param {ReadonlyArray<readonly bigint[]>} vectors all of one width
 * @param {{replace?: boolean}} [options]
 * @returns {Promise<PreparedBatch>}
 */
export async function prepareBatch(manifest, vectors, options = {}) {
  const width = vectors.length ? vectors[0].length : 0;
  if (!width) throw new RangeError("a batch holds at least one record of at least one entry");
  const mh = manifest.hash();
  const secrets = rowsBlock(vectors);
  const frames = manifest.nodes.map(() => shareBlockFrame(vectors.length, width));
  try {
    shareBlockInto(secrets, frames.map((f) => f.elements), manifest.threshold);
    const rb = width * ELEMENT_BYTES;
    const batch = await makeBatch(mh, vectors.map((_, r) => frames.map((f) => f.elements.subarray(r * rb, (r + 1) * rb))));
    const envelopeId = batchEnvelopeId(batch.publicKey);
    const envelopes = await Promise.all(manifest.nodes.map((nd, i) =>
      sealShareBlockFrame(frames[i].plaintext, nd.hpkePublicKey, mh, i, envelopeId)));
    return {
      surveyId: manifest.surveyId, manifestHash: toHex(mh), replace: Boolean(options.replace), batchKey: batch.publicKey,
      signature: batch.signature, commitments: batch.allCommitments(), ids: batch.ids, envelopes,
    };
  } finally {
    secrets.fill(0);
    frames.forEach((f) => f.plaintext.fill(0));
  }
}

/**
 * The binary body of node ``index``'s bulk upload of a prepared batch.
 * @param {PreparedBatch} prepared
 * @param {number} index
 * @param {ReadonlyArray<string>} tokens one per record, in order
 * @returns {Uint8Array}
 */
export function batchBody(prepared, index, tokens) {
  if (tokens.length !== prepared.ids.length) throw new RangeError(`the batch has ${prepared.ids.length} records, got ${tokens.length} tokens`);
  return bulkBodyToBytes({
    batchKey: prepared.batchKey, signature: prepared.signature, tokens, commitments: prepared.commitments,
    envelope: prepared.envelopes[index], replace: prepared.replace,
  });
}

/**
 * Hex SHA-256 of an envelope, which a node's acknowledgement must name.
 * @param {Uint8Array} envelope
 * @returns {string}
 */
export function envelopeSha256(envelope) {
  return toHex(sha256(envelope));
}

