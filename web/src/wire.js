/**
 * What the contributor sends to a node and what it gets back, as protocol/wire.py: the JSON
 * body of one record's upload (``POST /v1/surveys/{id}/submissions``), the binary and JSON
 * forms of a bulk upload (``POST /v1/surveys/{id}/batches``), and strict parsers of the nodes'
 * acknowledgements.  Binary fields travel as standard base64 except in the binary bulk body.
 */

import { concat, fromBase64, readUintBE, toBase64, uintBE } from "./bytes.js";
import { InvalidSubmission, SurveyError } from "./errors.js";
import { isToken } from "./tokens.js";

/** Content type of the binary form of a bulk upload. */
export const BULK_CONTENT_TYPE = "application/vnd.salary-mpc.batch";
/** Bodies of one record's upload stay below this (a node answers HTTP 413 above it). */
export const MAX_BODY_BYTES = 512 * 1024;
/** A bulk upload stays below this. */
export const MAX_BULK_BODY_BYTES = 48 * 1024 * 1024;
const BULK_MAGIC = Uint8Array.from([0x53, 0x4d, 0x42, 0x31]); // "SMB1"
const SID = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** A node's answer per stored upload. */
export const UPLOAD_STATUSES = Object.freeze(["stored", "duplicate", "replaced"]);

/**
 * The most records one bulk request may carry for a survey whose submissions have
 * ``vectorLength`` elements (protocol.wire.bulk_batch_limit).
 * @param {number} vectorLength
 * @param {number} nNodes
 */
export function bulkBatchLimit(vectorLength, nNodes) {
  const perRecord = Math.floor(((16 * vectorLength + 32 * nNodes) * 4) / 3) + 400;
  return Math.max(1, Math.floor(Math.floor(MAX_BULK_BODY_BYTES * 0.9) / perRecord));
}

/**
 * One node's sealed share of one record.
 * @typedef {object} SubmissionUpload
 * @property {string} submissionId 32 lowercase hex, the same at every node
 * @property {string} token the participation token
 * @property {Uint8Array} envelope this node's sealed share vector
 * @property {Uint8Array} certificate signed commitments to every node's share, the same for all
 * @property {boolean} replace replace this token's earlier submission
 */

/**
 * The JSON body of a record's upload, fields as protocol.wire.SubmissionUpload names them.
 * Throws {@link InvalidSubmission} for a value no node would accept.
 * @param {SubmissionUpload} up
 * @returns {string}
 */
export function submissionUploadJson(up) {
  if (!SID.test(up.submissionId)) throw new InvalidSubmission("submission: submission_id must be 32 lowercase hex characters");
  if (!isToken(up.token)) throw new InvalidSubmission("submission: token is missing, too long or has characters no participation token has");
  return JSON.stringify({
    submission_id: up.submissionId,
    token: up.token,
    envelope: toBase64(up.envelope),
    certificate: toBase64(up.certificate),
    replace: Boolean(up.replace),
  });
}

/**
 * A bulk upload with its binary fields as bytes (one node's share of a batch).
 * @typedef {object} BulkBody
 * @property {Uint8Array} batchKey the batch's one-time Ed25519 public key
 * @property {Uint8Array} signature its signature over the Merkle root of the records' commitments
 * @property {ReadonlyArray<string>} tokens one participation token per record, in order
 * @property {Uint8Array} commitments every record's C_0..C_{n-1}, record-major
 * @property {Uint8Array} envelope this node's sealed share block
 * @property {boolean} replace
 */

/**
 * @param {ReadonlyArray<unknown>} tokens
 */
function checkBulkTokens(tokens) {
  if (!tokens.length) throw new InvalidSubmission("bulk upload: tokens must list one token per record");
  tokens.forEach((token, k) => {
    if (!isToken(token)) {
      throw new InvalidSubmission(`bulk upload: token ${k} is missing, too long or has characters no participation token has`);
    }
  });
}

/**
 * The binary form (integers big-endian): ``"SMB1" | flags u8 (bit 0: replace) | k u32 |
 * k x (token length u16, ASCII token) | 4 x (length u32, bytes)`` for batch key, signature,
 * commitments, envelope.
 * @param {BulkBody} body
 * @returns {Uint8Array}
 */
export function bulkBodyToBytes(body) {
  checkBulkTokens(body.tokens);
  const parts = [BULK_MAGIC, uintBE(body.replace ? 1 : 0, 1), uintBE(body.tokens.length, 4)];
  for (const token of body.tokens) {
    parts.push(uintBE(token.length, 2), Uint8Array.from(token, (c) => c.charCodeAt(0)));
  }
  for (const blob of [body.batchKey, body.signature, body.commitments, body.envelope]) parts.push(uintBE(blob.length, 4), blob);
  return concat(...parts);
}

/**
 * Parse the binary form, with the node's messages; throws {@link InvalidSubmission}.
 * @param {Uint8Array} raw
 * @returns {BulkBody}
 */
export function bulkBodyFromBytes(raw) {
  const what = "bulk upload (binary)";
  if (raw.length < 4 || !BULK_MAGIC.every((b, i) => raw[i] === b)) {
    throw new InvalidSubmission(`${what}: the body does not start with the format's magic bytes`);
  }
  let at = 4;
  const take = (/** @type {number} */ n) => {
    if (at + n > raw.length) throw new InvalidSubmission(`${what}: the body is truncated`);
    at += n;
    return raw.subarray(at - n, at);
  };
  const flags = take(1)[0];
  const k = readUintBE(take(4), 0, 4);
  if (flags & ~1) throw new InvalidSubmission(`${what}: unknown flags 0x${flags.toString(16).padStart(2, "0")}`);
  if (k > Math.floor((raw.length - at) / 3)) throw new InvalidSubmission(`${what}: the body is truncated`);
  const tokens = [];
  for (let r = 0; r < k; r++) {
    const bytes = take(readUintBE(take(2), 0, 2));
    if (bytes.some((b) => b > 0x7f)) {
      throw new InvalidSubmission(`${what}: token ${r} is missing, too long or has characters no participation token has`);
    }
    tokens.push(String.fromCharCode(...bytes));
  }
  checkBulkTokens(tokens);
  const blobs = [];
  for (let f = 0; f < 4; f++) blobs.push(take(readUintBE(take(4), 0, 4)).slice());
  if (at !== raw.length) throw new InvalidSubmission(`${what}: ${raw.length - at} bytes follow the last field`);
  return { batchKey: blobs[0], signature: blobs[1], tokens, commitments: blobs[2], envelope: blobs[3], replace: Boolean(flags & 1) };
}

/**
 * The JSON form of a bulk upload (protocol.wire.BulkUpload), base64 fields.
 * @param {BulkBody} body
 * @returns {string}
 */
export function bulkUploadJson(body) {
  checkBulkTokens(body.tokens);
  return JSON.stringify({
    batch_key: toBase64(body.batchKey),
    signature: toBase64(body.signature),
    tokens: [...body.tokens],
    commitments: toBase64(body.commitments),
    envelope: toBase64(body.envelope),
    replace: Boolean(body.replace),
  });
}

/**
 * A node's answer to a stored upload (kept in the receipt).
 * @typedef {object} SubmissionAck
 * @property {string} survey_id
 * @property {string} submission_id
 * @property {number} node_index
 * @property {string} envelope_sha256
 * @property {string} status one of UPLOAD_STATUSES
 * @property {string} stored_at
 * @property {string | null} replaced_submission_id
 */

/**
 * A node's answer to a stored bulk upload: one status per record.
 * @typedef {object} BulkAck
 * @property {string} survey_id
 * @property {number} node_index
 * @property {string} batch_id
 * @property {string} envelope_sha256
 * @property {string[]} submission_ids
 * @property {string[]} statuses
 * @property {string} stored_at
 */

/**
 * The object's own fields, refused unless exactly ``required`` plus some of ``optional``.
 * @param {unknown} obj
 * @param {string[]} required
 * @param {string[]} optional
 * @param {string} malformed
 * @returns {Record<string, unknown>}
 */
function fieldsOf(obj, required, optional, malformed) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new SurveyError(malformed);
  const rec = /** @type {Record<string, unknown>} */ (obj);
  const keys = Object.keys(rec);
  if (!required.every((k) => k in rec) || keys.some((k) => !required.includes(k) && !optional.includes(k))) {
    throw new SurveyError(malformed);
  }
  return rec;
}

/**
 * Parse a node's acknowledgement of one record's upload; throws {@link SurveyError}.
 * @param {unknown} obj the parsed JSON answer
 * @returns {SubmissionAck}
 */
export function parseSubmissionAck(obj) {
  const malformed = "node sent a malformed acknowledgement";
  const rec = fieldsOf(obj, ["survey_id", "submission_id", "node_index", "envelope_sha256", "status", "stored_at"],
    ["replaced_submission_id"], malformed);
  if (typeof rec.status !== "string" || !UPLOAD_STATUSES.includes(rec.status) || !HEX64.test(String(rec.envelope_sha256))
    || typeof rec.survey_id !== "string" || typeof rec.submission_id !== "string" || !Number.isInteger(rec.node_index)
    || typeof rec.stored_at !== "string" || !(rec.replaced_submission_id == null || typeof rec.replaced_submission_id === "string")) {
    throw new SurveyError(malformed);
  }
  return /** @type {SubmissionAck} */ ({ replaced_submission_id: null, ...rec });
}

/**
 * Parse a node's acknowledgement of a bulk upload; throws {@link SurveyError}.
 * @param {unknown} obj
 * @returns {BulkAck}
 */
export function parseBulkAck(obj) {
  const malformed = "malformed bulk acknowledgement from node";
  const rec = fieldsOf(obj, ["survey_id", "node_index", "batch_id", "envelope_sha256", "submission_ids", "statuses", "stored_at"],
    [], malformed);
  const ids = rec.submission_ids;
  const statuses = rec.statuses;
  if (!Array.isArray(ids) || !Array.isArray(statuses) || ids.length !== statuses.length
    || !statuses.every((s) => UPLOAD_STATUSES.includes(s)) || !ids.every((s) => typeof s === "string")
    || !Number.isInteger(rec.node_index) || typeof rec.survey_id !== "string" || typeof rec.envelope_sha256 !== "string") {
    throw new SurveyError(malformed);
  }
  return /** @type {BulkAck} */ (rec);
}

/**
 * Throw unless a node's acknowledgement names this survey, this node, the envelope sent (by its
 * SHA-256) and the record id(s) sent, as the Python contributor checks.
 * @param {SubmissionAck | BulkAck} ack
 * @param {{surveyId: string, nodeIndex: number, envelopeSha256: string, submissionIds: ReadonlyArray<string>, nodeLabel: string}} sent
 */
export function checkAck(ack, sent) {
  const ids = "submission_ids" in ack ? ack.submission_ids : [ack.submission_id];
  if (ack.survey_id !== sent.surveyId || ack.node_index !== sent.nodeIndex || ack.envelope_sha256 !== sent.envelopeSha256
    || ids.length !== sent.submissionIds.length || ids.some((id, k) => id !== sent.submissionIds[k])) {
    throw new SurveyError(`${sent.nodeLabel} acknowledged something other than what was sent`);
  }
}

/**
 * The JSON form's fields decoded (throws {@link InvalidSubmission} on bad base64).
 * @param {{batch_key: string, signature: string, tokens: string[], commitments: string, envelope: string, replace?: boolean}} up
 * @returns {BulkBody}
 */
export function bulkBodyFromUpload(up) {
  const b64 = (/** @type {string} */ text, /** @type {string} */ what) => {
    try {
      return fromBase64(text);
    } catch {
      throw new InvalidSubmission(`${what} is not valid base64`);
    }
  };
  return {
    batchKey: b64(up.batch_key, "batch_key"), signature: b64(up.signature, "signature"), tokens: [...up.tokens],
    commitments: b64(up.commitments, "commitments"), envelope: b64(up.envelope, "envelope"), replace: Boolean(up.replace),
  };
}
