import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { fromBase64, fromHex, toBase64, toHex, utf8SurrogatePass } from "../src/bytes.js";
import { InvalidSubmission, SurveyError } from "../src/errors.js";
import { Label, labelBytes } from "../src/labels.js";
import { isToken, tokenHash } from "../src/tokens.js";
import {
  bulkBatchLimit, bulkBodyFromBytes, bulkBodyFromUpload, bulkBodyToBytes, bulkUploadJson, checkAck, parseBulkAck,
  parseSubmissionAck, submissionUploadJson,
} from "../src/wire.js";
import { vector } from "./vectors.js";

const BULK = vector("bulk_body");
const BODY = {
  batchKey: fromHex(BULK.batch_key), signature: fromHex(BULK.signature), tokens: BULK.tokens,
  commitments: fromHex(BULK.commitments), envelope: fromHex(BULK.envelope), replace: BULK.replace,
};

test("bulk_body.json: the binary form is the known bytes, and parses back", () => {
  assert.equal(toHex(bulkBodyToBytes(BODY)), BULK.binary);
  const back = bulkBodyFromBytes(fromHex(BULK.binary));
  assert.deepEqual({ ...back, tokens: [...back.tokens] }, BODY);
  assert.deepEqual(bulkBodyFromBytes(bulkBodyToBytes({ ...BODY, replace: false })).replace, false);
});

test("bulk_body.json: the JSON form is the known upload", () => {
  assert.deepEqual(JSON.parse(bulkUploadJson(BODY)), BULK.upload);
  const back = bulkBodyFromUpload(BULK.upload);
  assert.deepEqual(back, BODY);
  assert.throws(() => bulkBodyFromUpload({ ...BULK.upload, envelope: "not base64!" }), /^InvalidSubmission: envelope is not valid base64$/);
});

test("bulk_body.json: every tampered body is refused with exactly the node's message", () => {
  assert.ok(BULK.tampered.length >= 16);
  for (const t of BULK.tampered) {
    assert.throws(() => bulkBodyFromBytes(fromHex(t.binary)), (e) => e instanceof InvalidSubmission && e.message === t.error, t.name);
  }
  assert.throws(() => bulkBodyToBytes({ ...BODY, tokens: [] }), /tokens must list one token per record/);
  assert.throws(() => bulkBodyToBytes({ ...BODY, tokens: ["ok", "t é"] }), /token 1 is missing, too long/);
});

test("a record's upload is the JSON body protocol.wire.SubmissionUpload parses", () => {
  const body = JSON.parse(submissionUploadJson({
    submissionId: "ab".repeat(16), token: "q9X-2bGk_r1Zt0", envelope: Uint8Array.of(1, 2, 3), certificate: Uint8Array.of(255), replace: true,
  }));
  assert.deepEqual(body, { submission_id: "ab".repeat(16), token: "q9X-2bGk_r1Zt0", envelope: "AQID", certificate: "/w==", replace: true });
  assert.deepEqual(Object.keys(body), ["submission_id", "token", "envelope", "certificate", "replace"]);
  const up = { submissionId: "ab".repeat(16), token: "t", envelope: new Uint8Array(), certificate: new Uint8Array(), replace: false };
  assert.throws(() => submissionUploadJson({ ...up, submissionId: "AB".repeat(16) }), /submission_id must be 32 lowercase hex/);
  assert.throws(() => submissionUploadJson({ ...up, token: "a b" }), /token is missing, too long or has characters/);
  assert.throws(() => submissionUploadJson({ ...up, token: "t".repeat(257) }), InvalidSubmission);
});

test("base64: standard alphabet with padding; strict decoding", () => {
  for (let n = 0; n < 40; n++) {
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    assert.equal(toBase64(data), Buffer.from(data).toString("base64"));
    assert.deepEqual(fromBase64(toBase64(data)), data);
  }
  for (const bad of ["ab=", "abc==", "====", "ab=a", "a", "ab c", "ab-_", "abcd\n"]) assert.throws(() => fromBase64(bad), TypeError, bad);
});

test("acknowledgements: strict fields, known statuses, and they must name what was sent", () => {
  const ack = { survey_id: "s", submission_id: "ab".repeat(16), node_index: 1, envelope_sha256: "0".repeat(64), status: "stored", stored_at: "t" };
  const parsed = parseSubmissionAck(ack);
  assert.equal(parsed.replaced_submission_id, null);
  const sent = { surveyId: "s", nodeIndex: 1, envelopeSha256: "0".repeat(64), submissionIds: ["ab".repeat(16)], nodeLabel: "node1 (https://x)" };
  checkAck(parsed, sent);
  assert.throws(() => checkAck(parsed, { ...sent, nodeIndex: 2 }), /^SurveyError: node1 \(https:\/\/x\) acknowledged something other than what was sent$/);
  for (const bad of [{ ...ack, status: "kept" }, { ...ack, extra: 1 }, { ...ack, envelope_sha256: "x" }, { ...ack, node_index: "1" }, []]) {
    assert.throws(() => parseSubmissionAck(bad), (e) => e instanceof SurveyError && e.message === "node sent a malformed acknowledgement");
  }
  const bulk = { survey_id: "s", node_index: 0, batch_id: "b", envelope_sha256: "0".repeat(64), submission_ids: ["a", "b"], statuses: ["stored", "duplicate"], stored_at: "t" };
  checkAck(parseBulkAck(bulk), { ...sent, nodeIndex: 0, submissionIds: ["a", "b"] });
  assert.throws(() => checkAck(parseBulkAck(bulk), { ...sent, nodeIndex: 0, submissionIds: ["a", "c"] }), /acknowledged something other/);
  for (const bad of [{ ...bulk, statuses: ["stored"] }, { ...bulk, statuses: ["stored", "x"] }, { ...bulk, more: 1 }]) {
    assert.throws(() => parseBulkAck(bad), /malformed bulk acknowledgement from node/);
  }
});

test("the batch limit is protocol.wire.bulk_batch_limit's", () => {
  // per record: (16 x 100 + 32 x 3) x 4 // 3 + 400 = 2661; floor(0.9 x 48 MiB) // 2661
  assert.equal(bulkBatchLimit(100, 3), Math.floor(Math.floor(48 * 1024 * 1024 * 0.9) / 2661));
  assert.equal(bulkBatchLimit(10 ** 7, 3), 1);
});

test("tokens: the wire's rule, and the hash nodes store", () => {
  assert.ok(isToken("q9X-2bGk_r1Zt0") && isToken("!~") && isToken("x".repeat(256)));
  for (const bad of ["", "a b", "é", "x".repeat(257), "tab\t", 5]) assert.ok(!isToken(bad), String(bad));
  assert.equal(tokenHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // an unpaired surrogate hashes as Python's surrogatepass encodes it (ED A0 80)
  assert.deepEqual([...utf8SurrogatePass("a\ud800")], [0x61, 0xed, 0xa0, 0x80]);
  assert.deepEqual([...utf8SurrogatePass("é😀")], [0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]);
});

test("labels: distinct, none a prefix of another, versioned and terminated; no other module spells one", () => {
  const values = Object.keys(Label).map((k) => labelBytes(/** @type {keyof typeof Label} */ (k)));
  assert.equal(new Set(Object.values(Label)).size, values.length);
  for (const a of Object.values(Label)) {
    assert.ok(a.startsWith("salary-mpc/v") && (a.endsWith("\x00") || a.endsWith("\n")), a);
    for (const b of Object.values(Label)) assert.ok(a === b || !b.startsWith(a), `${a} is a prefix of ${b}`);
  }
  const src = new URL("../src/", import.meta.url);
  const offenders = readdirSync(src).filter((f) => f !== "labels.js" && readFileSync(new URL(f, src), "utf8").includes("salary-mpc/v"));
  assert.deepEqual(offenders, []);
});
