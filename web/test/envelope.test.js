import assert from "node:assert/strict";
import { test } from "node:test";
import { x25519 } from "@noble/curves/ed25519.js";
import { concat, fromHex, toHex } from "../src/bytes.js";
import {
  ENC_LEN, TAG_LEN, hpkeOpen, openShareBlock, openShares, resultInfo, sealShareBlock, sealShareBlockFrame, sealShares, sealedShareLength,
  shareBlockFrame, shareInfo,
} from "../src/envelope.js";
import { DecryptionFailed, InvalidSubmission } from "../src/errors.js";
import { P127, decodeElements, encodeElements } from "../src/field.js";
import { vector } from "./vectors.js";

const V = vector("hpke");
const NODE_SK = fromHex(V.node_private_key);
const MHASH = fromHex(V.manifest_hash);
const SID = fromHex(V.submission_id);
const SHARES = V.shares.map(BigInt);

test("hpke.json: the vector's keys match, and its sealed share has the documented length", () => {
  assert.equal(toHex(x25519.getPublicKey(NODE_SK)), V.node_public_key);
  assert.equal(BigInt(V.field_modulus), P127);
  assert.equal(fromHex(V.sealed).length, sealedShareLength(SHARES.length));
  assert.equal(sealedShareLength(SHARES.length), ENC_LEN + 6 + 16 * SHARES.length + TAG_LEN);
});

test("hpke.json: the Python-sealed share opens to the known shares (HPKE is randomised: a decryption known answer)", async () => {
  const body = await openShares(fromHex(V.sealed), NODE_SK, MHASH, V.node_index, SID, SHARES.length);
  assert.deepEqual(decodeElements(body, SHARES.length), SHARES);
});

test("hpke.json: the Python-sealed result share opens with the result info and the RES1 layout", async () => {
  const plain = await hpkeOpen(fromHex(V.analyst_private_key), resultInfo(MHASH, V.result_node_index), fromHex(V.sealed_result));
  assert.equal(new TextDecoder().decode(plain.subarray(0, 4)), "RES1");
  const count = (plain[4] << 8) | plain[5];
  assert.deepEqual(decodeElements(plain.subarray(6), count), V.result.map(BigInt));
});

test("the info layout: label, manifest hash, node index (u16), submission id", () => {
  const info = shareInfo(MHASH, 2, SID);
  assert.equal(new TextDecoder().decode(info.subarray(0, 31)), "salary-mpc/v1 submission share\x00");
  assert.deepEqual(info.subarray(31), concat(MHASH, Uint8Array.of(0, 2), SID));
  assert.throws(() => shareInfo(MHASH, 2, SID.subarray(1)), /16 bytes/);
});

test("a JS-sealed share opens at its node, and nowhere else (other node, survey, submission, tampered, truncated)", async () => {
  const elements = encodeElements(SHARES);
  const sealed = await sealShares(elements, V.node_public_key, MHASH, V.node_index, SID);
  assert.equal(sealed.length, sealedShareLength(SHARES.length));
  assert.deepEqual(await openShares(sealed, NODE_SK, MHASH, V.node_index, SID, SHARES.length), elements);
  const again = await sealShares(elements, V.node_public_key, MHASH, V.node_index, SID);
  assert.notEqual(toHex(again), toHex(sealed), "fresh ephemeral key every time");
  const flipped = sealed.slice();
  flipped[ENC_LEN + 3] ^= 1;
  const otherId = SID.slice();
  otherId[0] ^= 1;
  for (const [what, attempt] of /** @type {[string, () => Promise<unknown>][]} */ ([
    ["other node", () => openShares(sealed, NODE_SK, MHASH, V.node_index + 1, SID, SHARES.length)],
    ["other survey", () => openShares(sealed, NODE_SK, new Uint8Array(32), V.node_index, SID, SHARES.length)],
    ["other submission", () => openShares(sealed, NODE_SK, MHASH, V.node_index, otherId, SHARES.length)],
    ["other key", () => openShares(sealed, fromHex(V.analyst_private_key), MHASH, V.node_index, SID, SHARES.length)],
    ["tampered", () => openShares(flipped, NODE_SK, MHASH, V.node_index, SID, SHARES.length)],
    ["truncated", () => openShares(sealed.subarray(0, sealed.length - 1), NODE_SK, MHASH, V.node_index, SID, SHARES.length)],
  ])) {
    await assert.rejects(attempt, DecryptionFailed, what);
  }
  await assert.rejects(openShares(sealed, NODE_SK, MHASH, V.node_index, SID, SHARES.length + 1), (e) => e instanceof InvalidSubmission
    && e.message === `share vector has ${SHARES.length} entries, the survey expects ${SHARES.length + 1}`);
});

test("a JS-sealed share block opens with its shape, bound to the batch's envelope id", async () => {
  const rows = 3;
  const width = 2;
  const block = encodeElements([1n, 2n, 3n, 4n, 5n, P127 - 1n]);
  const envelopeId = fromHex("0f".repeat(16));
  const sealed = await sealShareBlock(block, rows, width, V.node_public_key, MHASH, 1, envelopeId);
  assert.equal(sealed.length, ENC_LEN + 10 + block.length + TAG_LEN);
  assert.deepEqual(await openShareBlock(sealed, NODE_SK, MHASH, 1, envelopeId, rows, width), block);
  await assert.rejects(openShareBlock(sealed, NODE_SK, MHASH, 1, envelopeId, rows, width + 1), (e) => e instanceof InvalidSubmission
    && e.message === "share block holds 3 x 2 entries; the upload announces 3 records and the survey expects 3 entries each");
  await assert.rejects(openShareBlock(sealed, NODE_SK, MHASH, 1, SID, rows, width), DecryptionFailed);
  await assert.rejects(sealShareBlock(block, rows, width + 1, V.node_public_key, MHASH, 1, envelopeId), /wrong size/);
});

test("a share block frame: header then zero elements; filled in place, it seals what sealShareBlock seals", async () => {
  const block = encodeElements([1n, 2n, 3n, 4n, 5n, P127 - 1n]);
  const envelopeId = fromHex("0f".repeat(16));
  const frame = shareBlockFrame(3, 2);
  assert.equal(toHex(frame.plaintext.subarray(0, 10)), "53534231" + "00000003" + "0002");
  assert.equal(frame.elements.length, block.length);
  assert.ok(frame.elements.every((b) => b === 0));
  frame.elements.set(block);
  assert.deepEqual(frame.plaintext.subarray(10), block);
  const sealed = await sealShareBlockFrame(frame.plaintext, V.node_public_key, MHASH, 1, envelopeId);
  assert.deepEqual(await openShareBlock(sealed, NODE_SK, MHASH, 1, envelopeId, 3, 2), block);
  const cut = frame.plaintext.subarray(0, frame.plaintext.length - 16);
  await assert.rejects(sealShareBlockFrame(cut, V.node_public_key, MHASH, 1, envelopeId), /share block frame has the wrong header or size/);
  const magic = frame.plaintext.slice();
  magic[3] = 0x32;
  await assert.rejects(sealShareBlockFrame(magic, V.node_public_key, MHASH, 1, envelopeId), /share block frame has the wrong header or size/);
});
