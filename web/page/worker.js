/**
 * The HR file's heavy work, off the page's thread: every row's record, vector and validity proof,
 * then the rows shared, certified and sealed in batches within the bulk size limit.  Messages in:
 * ``{manifest: text, records}`` (the HR file's checked records); out: ``{progress: done}`` while proving, one
 * ``{batch: PreparedBatch}`` per batch, then ``{done: true}`` or ``{error: message}``.
 */

import { lib, vectorsOf } from "./core.js";

/** Most rows in one batch, so that progress and resumption have a useful grain. */
const MAX_ROWS_PER_BATCH = 500;

/**
 * @param {{manifest: string, records: any[]}} job
 * @param {(msg: any) => void} post
 */
export async function prepareRows(job, post) {
  const m = lib.parseManifest(job.manifest);
  const vectors = vectorsOf(m, job.records, (done) => post({ progress: done }));
  const size = Math.max(1, Math.min(MAX_ROWS_PER_BATCH, lib.bulkBatchLimit(vectors[0].length, m.n)));
  for (let at = 0; at < vectors.length; at += size) {
    post({ batch: await lib.prepareBatch(m, vectors.slice(at, at + size)) });
  }
  post({ done: true });
}

/** Serve prepare jobs in a worker's global scope. */
export function serveWorker() {
  const scope = /** @type {any} */ (globalThis);
  scope.onmessage = async (/** @type {MessageEvent} */ ev) => {
    try {
      await prepareRows(ev.data, (msg) => scope.postMessage(msg));
    } catch (e) {
      scope.postMessage({ error: /** @type {Error} */ (e).message });
    }
  };
}

/**
 * A worker running this same bundle, fetched again with the integrity the page was loaded with
 * (so the worker runs the verified code) and started from a blob: URL.
 * @returns {Promise<Worker>}
 */
export async function startWorker() {
  const tag = /** @type {HTMLScriptElement | null} */ (document.querySelector("script[src$='salary-page.js']"));
  if (!tag) throw new Error("the page's script element is missing");
  const r = await fetch(tag.src, { integrity: tag.integrity, credentials: "omit" });
  if (!r.ok) throw new Error(`cannot load the page's code again for its worker: HTTP ${r.status}`);
  const url = URL.createObjectURL(new Blob([await r.arrayBuffer()], { type: "text/javascript" }));
  return new Worker(url, { type: "module", name: "salary-prepare" });
}
