/**
 * Uploads to every node and what each answered: an acknowledgement checked against what was
 * sent (survey, node, envelope SHA-256, record ids), a refusal with the node's reason and
 * one-line detail, or no answer.  A prepared upload is sent as it is on every retry, so a node
 * that already stored it answers "duplicate", which counts as acknowledged.
 */

import { lib } from "./core.js";
import { nodeBase } from "./survey.js";

/** @import { Manifest } from "../src/manifest.js" */

/**
 * One node's answer.
 * @typedef {{ack: any} | {refused: string, detail: string} | {unreachable: string}} NodeAnswer
 */

/**
 * POST ``body`` to node ``i``'s ``what`` route and read its answer.
 * @param {Manifest} m
 * @param {number} i
 * @param {"submissions" | "batches"} what
 * @param {string | Uint8Array} body
 * @param {string} contentType
 * @returns {Promise<{ok: boolean, json: any} | {unreachable: string}>}
 */
async function post(m, i, what, body, contentType) {
  const url = `${nodeBase(m, i)}/v1/surveys/${encodeURIComponent(m.surveyId)}/${what}`;
  let r;
  try {
    r = await fetch(url, { method: "POST", body: /** @type {BodyInit} */ (body), headers: { "Content-Type": contentType },
      credentials: "omit", cache: "no-store" });
  } catch {
    return { unreachable: `${m.nodeLabel(i)} is unreachable` };
  }
  let json = null;
  try {
    json = await r.json();
  } catch {
    return { unreachable: `${m.nodeLabel(i)} answered HTTP ${r.status} without a readable body` };
  }
  return { ok: r.ok, json };
}

/**
 * @param {Manifest} m
 * @param {number} i
 * @param {any} json a refusal's body
 * @returns {NodeAnswer}
 */
function refusal(m, i, json) {
  const detail = typeof json?.detail === "string" ? json.detail : "refused the upload";
  return { refused: typeof json?.reason === "string" ? json.reason : "", detail: `${m.nodeLabel(i)}: ${detail}` };
}

/**
 * Send one prepared record to the nodes in ``indices``.
 * @param {Manifest} m
 * @param {any} prepared from the library's prepareSubmission
 * @param {string} token
 * @param {ReadonlyArray<number>} indices
 * @returns {Promise<Map<number, NodeAnswer>>}
 */
export async function sendSubmission(m, prepared, token, indices) {
  const answers = await Promise.all(indices.map(async (i) => {
    const res = await post(m, i, "submissions", lib.submissionBody(prepared, i, token), "application/json");
    if ("unreachable" in res) return res;
    if (!res.ok) return refusal(m, i, res.json);
    const ack = lib.parseSubmissionAck(res.json);
    lib.checkAck(ack, { surveyId: m.surveyId, nodeIndex: i, envelopeSha256: lib.envelopeSha256(prepared.envelopes[i]),
      submissionIds: [prepared.submissionId], nodeLabel: m.nodeLabel(i) });
    return { ack };
  }));
  return new Map(indices.map((i, k) => [i, answers[k]]));
}

/**
 * Send one prepared batch to node ``i`` (binary bulk form).
 * @param {Manifest} m
 * @param {any} prepared from the library's prepareBatch
 * @param {ReadonlyArray<string>} tokens one per record
 * @param {number} i
 * @returns {Promise<NodeAnswer>}
 */
export async function sendBatch(m, prepared, tokens, i) {
  const res = await post(m, i, "batches", lib.batchBody(prepared, i, tokens), lib.BULK_CONTENT_TYPE);
  if ("unreachable" in res) return res;
  if (!res.ok) return refusal(m, i, res.json);
  const ack = lib.parseBulkAck(res.json);
  lib.checkAck(ack, { surveyId: m.surveyId, nodeIndex: i, envelopeSha256: lib.envelopeSha256(prepared.envelopes[i]),
    submissionIds: prepared.ids, nodeLabel: m.nodeLabel(i) });
  return { ack };
}
