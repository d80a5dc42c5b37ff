import assert from "node:assert/strict";
import { test } from "node:test";
import { sha256 } from "@noble/hashes/sha2.js";
import { fromHex, toHex } from "../src/bytes.js";
import { batchEnvelopeId, checkShare, verifyBatch, verifyCertificate } from "../src/commitment.js";
import { openShareBlock, openShares } from "../src/envelope.js";
import { P127, decodeElements, reconstruct } from "../src/field.js";
import { parseManifest } from "../src/manifest.js";
import { batchBody, envelopeSha256, prepareBatch, prepareSubmission, submissionBody } from "../src/submission.js";
import { bulkBodyFromBytes } from "../src/wire.js";
import { vector } from "./vectors.js";

const MANIFEST = parseManifest(JSON.stringify(vector("manifest").manifest));
// manifest.json's node keys are SHA-256 of fixed labels (tests/vectors/generate_vectors.py)
const NODE_KEYS = [0, 1, 2].map((i) => sha256(new TextEncoder().encode(`salary-mpc manifest vector node${i}`)));
const MH = MANIFEST.hash();

test("a prepared record opens at every node, verifies there, and its shares reconstruct the vector", async () => {
  const vec = [1n, 0n, 4200n, 4200n * 4200n, P127 - 1n];
  const prepared = await prepareSubmission(MANIFEST, vec, { replace: true });
  assert.equal(prepared.manifestHash, MANIFEST.hashHex());
  assert.equal(prepared.surveyId, "kat-survey-2026");
  const cert = verifyCertificate(prepared.certificate, prepared.submissionId, 3, MH);
  /** @type {Map<number, bigint[]>} */
  const shares = new Map();
  for (let i = 0; i < 3; i++) {
    const body = await openShares(prepared.envelopes[i], NODE_KEYS[i], MH, i, fromHex(prepared.submissionId), vec.length);
    await checkShare(cert, MH, prepared.submissionId, i, body);
    shares.set(i, decodeElements(body, vec.length));
    const upload = JSON.parse(submissionBody(prepared, i, "tok-en_1"));
    assert.deepEqual(upload, {
      submission_id: prepared.submissionId, token: "tok-en_1", envelope: Buffer.from(prepared.envelopes[i]).toString("base64"),
      certificate: Buffer.from(prepared.certificate).toString("base64"), replace: true,
    });
  }
  assert.deepEqual(reconstruct(shares, 1), vec);
  assert.equal(envelopeSha256(prepared.envelopes[0]), toHex(sha256(prepared.envelopes[0])));
  // a node cannot open another node's envelope
  await assert.rejects(openShares(prepared.envelopes[0], NODE_KEYS[1], MH, 0, fromHex(prepared.submissionId), vec.length));
});

test("a prepared batch: one key, one sealed block per node, every record reconstructs", async () => {
  const vectors = [[1n, 2n, 3n], [4n, 5n, 6n], [7n, 8n, P127 - 1n]];
  const prepared = await prepareBatch(MANIFEST, vectors);
  assert.equal(prepared.replace, false);
  const batch = verifyBatch(prepared.batchKey, prepared.signature, prepared.commitments, 3, 3, MH);
  assert.deepEqual(batch.ids, prepared.ids);
  /** @type {Map<number, bigint[]>[]} */
  const perRecord = vectors.map(() => new Map());
  for (let i = 0; i < 3; i++) {
    const body = bulkBodyFromBytes(batchBody(prepared, i, ["a1", "b2", "c3"]));
    assert.deepEqual(body.tokens, ["a1", "b2", "c3"]);
    const block = await openShareBlock(body.envelope, NODE_KEYS[i], MH, i, batchEnvelopeId(body.batchKey), 3, 3);
    for (let r = 0; r < 3; r++) {
      const row = block.subarray(48 * r, 48 * (r + 1));
      await checkShare(verifyCertificate(batch.certificate(r), batch.ids[r], 3, MH), MH, batch.ids[r], i, row);
      perRecord[r].set(i, decodeElements(row, 3));
    }
  }
  perRecord.forEach((shares, r) => assert.deepEqual(reconstruct(shares, 1), vectors[r]));
  assert.throws(() => batchBody(prepared, 0, ["a1"]), /the batch has 3 records, got 1 tokens/);
  await assert.rejects(prepareBatch(MANIFEST, [[1n, 2n], [3n]]), /different widths/);
});
