import assert from "node:assert/strict";
import { test } from "node:test";
import { ed25519 } from "@noble/curves/ed25519.js";
import { fromHex, toHex } from "../src/bytes.js";
import {
  MAX_BATCH, batchCertificateLength, batchEnvelopeId, batchRecordId, certificateLength, checkShare, makeBatch, makeCertificate,
  submissionIdFor, verifyBatch, verifyCertificate,
} from "../src/commitment.js";
import { InvalidSubmission } from "../src/errors.js";
import { encodeElements } from "../src/field.js";
import { vector } from "./vectors.js";

const V = vector("certificate");
const MHASH = fromHex(V.manifest_hash);
const SHARE_BYTES = V.shares.map((/** @type {string[]} */ row) => encodeElements(row.map(BigInt)));

/**
 * @param {() => unknown} f
 * @param {string} message
 */
function refused(f, message) {
  assert.throws(f, (e) => e instanceof InvalidSubmission && e.message === message, message);
}

/**
 * @param {() => Promise<unknown>} f
 * @param {string} message
 */
async function refusedAsync(f, message) {
  await assert.rejects(f, (e) => e instanceof InvalidSubmission && e.message === message, message);
}

test("certificate.json: the known key signs the known certificate and id (Ed25519 is deterministic)", async () => {
  const sk = fromHex(V.private_key);
  const { submissionId, certificate } = await makeCertificate(MHASH, SHARE_BYTES, sk);
  assert.equal(submissionId, V.submission_id);
  assert.equal(toHex(certificate), V.certificate);
  assert.equal(toHex(sk), V.private_key, "the caller's key is not wiped");
  assert.equal(certificate.length, certificateLength(3));
});

test("certificate.json: the known certificate verifies and commits to each node's share", async () => {
  const cert = verifyCertificate(fromHex(V.certificate), V.submission_id, 3, MHASH);
  assert.equal(submissionIdFor(cert.publicKey), V.submission_id);
  for (const [j, sb] of SHARE_BYTES.entries()) await checkShare(cert, MHASH, V.submission_id, j, sb);
  await refusedAsync(() => checkShare(cert, MHASH, V.submission_id, 0, SHARE_BYTES[1]),
    "share does not match the contributor's signed commitment for this node");
});

test("a tampered certificate is refused with the node's message", () => {
  const cert = fromHex(V.certificate);
  refused(() => verifyCertificate(cert.subarray(0, 103), V.submission_id, 3, MHASH), "submission certificate must be 192 bytes for 3 nodes");
  // longer than a batch certificate's head: read as a batch record's, as the node does
  refused(() => verifyCertificate(cert.subarray(1), V.submission_id, 3, MHASH),
    "submission certificate must be 192 bytes for 3 nodes, or a well-formed batch record certificate");
  refused(() => verifyCertificate(cert, "0".repeat(32), 3, MHASH), "submission id is not the hash of the certificate's key");
  for (const at of [40, 100, 150]) {
    const bad = cert.slice();
    bad[at] ^= 1;
    refused(() => verifyCertificate(bad, V.submission_id, 3, MHASH), "submission certificate signature does not verify");
  }
  refused(() => verifyCertificate(cert, V.submission_id, 3, new Uint8Array(32)), "submission certificate signature does not verify");
});

test("fresh certificates: a new key (and id) each time, from crypto.getRandomValues", async () => {
  const a = await makeCertificate(MHASH, SHARE_BYTES);
  const b = await makeCertificate(MHASH, SHARE_BYTES);
  assert.notEqual(a.submissionId, b.submissionId);
  verifyCertificate(a.certificate, a.submissionId, 3, MHASH);
  verifyCertificate(b.certificate, b.submissionId, 3, MHASH);
});

test("batch: every record's stand-alone certificate verifies; ids, envelope id and lengths as documented", async () => {
  for (const k of [1, 2, 3, 5, 8]) {
    const rows = Array.from({ length: k }, (_, r) => SHARE_BYTES.map((/** @type {Uint8Array} */ sb) => sb.map((x) => x ^ r)));
    const batch = await makeBatch(MHASH, rows);
    assert.equal(batch.ids.length, k);
    assert.equal(batch.ids[k - 1], batchRecordId(batch.publicKey, k - 1));
    assert.match(batch.ids[0], /^[0-9a-f]{24}00000000$/);
    assert.equal(batchEnvelopeId(batch.publicKey).length, 16);
    const again = verifyBatch(batch.publicKey, batch.signature, batch.allCommitments(), k, 3, MHASH);
    assert.deepEqual(again.ids, batch.ids);
    for (let r = 0; r < k; r++) {
      const cert = batch.certificate(r);
      assert.equal(cert.length, batchCertificateLength(3, k));
      const parsed = verifyCertificate(cert, batch.ids[r], 3, MHASH);
      for (const [j, sb] of rows[r].entries()) await checkShare(parsed, MHASH, batch.ids[r], j, sb);
      await refusedAsync(() => checkShare(parsed, MHASH, batch.ids[r], 0, rows[r][1]),
        "share does not match the contributor's signed commitment for this node");
    }
    // the two layouts never have the same length
    assert.notEqual(batchCertificateLength(3, k), certificateLength(3));
  }
});

test("batch: tampering with the signature, a commitment, a path or the index is refused", async () => {
  const rows = Array.from({ length: 5 }, (_, r) => SHARE_BYTES.map((/** @type {Uint8Array} */ sb) => sb.map((x) => x ^ r)));
  const batch = await makeBatch(MHASH, rows);
  const commitments = batch.allCommitments();
  const badCommit = commitments.slice();
  badCommit[200] ^= 1;
  refused(() => verifyBatch(batch.publicKey, batch.signature, badCommit, 5, 3, MHASH), "batch certificate signature does not verify");
  refused(() => verifyBatch(batch.publicKey, batch.signature, commitments, 4, 3, MHASH), "batch commitments must be 384 bytes for 4 records and 3 nodes");
  refused(() => verifyBatch(batch.publicKey, batch.signature.subarray(1), commitments, 5, 3, MHASH), "batch key or signature has the wrong length");
  refused(() => verifyBatch(batch.publicKey, batch.signature, commitments, 0, 3, MHASH), `a batch holds 1 to ${MAX_BATCH} records`);
  const cert = batch.certificate(2);
  const badPath = cert.slice();
  badPath[104 + 5] ^= 1;
  refused(() => verifyCertificate(badPath, batch.ids[2], 3, MHASH), "submission certificate signature does not verify");
  refused(() => verifyCertificate(cert, batch.ids[3], 3, MHASH), "submission id is not the hash of the certificate's key and record index");
  const badIndex = cert.slice();
  badIndex[103] = 9; // r = 9 >= k = 5
  refused(() => verifyCertificate(badIndex, batch.ids[2], 3, MHASH),
    "submission certificate must be 192 bytes for 3 nodes, or a well-formed batch record certificate");
  await assert.rejects(makeBatch(MHASH, []), /a batch holds 1 to 4096 records/);
});

test("batch with a given key is deterministic; the caller's key survives", async () => {
  const sk = fromHex(V.private_key);
  const rows = [SHARE_BYTES, SHARE_BYTES];
  const a = await makeBatch(MHASH, rows, sk);
  const b = await makeBatch(MHASH, rows, sk);
  assert.equal(toHex(a.signature), toHex(b.signature));
  assert.equal(toHex(a.publicKey), toHex(ed25519.getPublicKey(sk)));
  assert.equal(toHex(sk), V.private_key);
});
