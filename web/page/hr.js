/**
 * HR staff's flow: an HR file (CSV or .xlsx, read by the library as salary-submit reads it) and its
 * participation tokens, every row checked before anything is sent (bad rows listed by line, to fix
 * or leave out), the rows prepared in a Web Worker with a progress bar, then uploaded batch by
 * batch to every node.  The prepared batches and each node's acknowledgements are kept in
 * IndexedDB until every node acknowledged every batch (with the tokens' SHA-256, not the tokens:
 * resuming asks for the tokens file again), so that a closed tab resumes where it stopped; a batch
 * is always resent as the same bytes, which a node that stored it answers "duplicate".
 */

import { lib, readHr } from "./core.js";
import { clearError, el, fail, say } from "./dom.js";
import { t } from "./i18n.js";
import { deleteRun, runsOf, saveRun } from "./pending.js";
import { sendBatch } from "./upload.js";
import { startWorker } from "./worker.js";

/** @import { Manifest } from "../src/manifest.js" */
/** @import { PendingRun } from "./pending.js" */

/**
 * @param {File} file
 * @returns {Promise<Uint8Array>}
 */
async function bytesOf(file) {
  return new Uint8Array(await file.arrayBuffer());
}

/** @param {string} text */
function tokenLines(text) {
  return text.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
}

/**
 * The HR view: a pending run to resume (if any), then the files.
 * @param {HTMLElement} root
 * @param {Manifest} m
 * @param {string} manifestText
 */
export async function hrView(root, m, manifestText) {
  const progress = el("progress", { id: "progress", max: 1, value: 0, "aria-label": t("progress"), hidden: true });
  const runs = await runsOf(m.surveyId, m.hashHex());
  if (runs.length) root.append(resumeSection(m, runs[0], progress));
  const pendingHashes = new Set(runs.flatMap((r) => r.batches.flatMap((b) => b.tokenHashes)));
  const hrInput = el("input", { id: "hr-file", type: "file", accept: ".csv,.txt,.tsv,.xlsx,.xlsm,text/csv" });
  const tokInput = el("input", { id: "tokens-file", type: "file", accept: ".txt,text/plain" });
  const paste = el("textarea", { id: "tokens-paste", spellcheck: "false", autocomplete: "off" });
  const drop = el("div", { class: "drop", id: "drop" }, t("drop"));
  const report = el("div", { id: "rows-report" });
  const files = { hr: /** @type {File | null} */ (null), tokens: /** @type {File | null} */ (null) };
  const check = async () => checkFiles(m, manifestText, files, paste, report, progress, root, pendingHashes);
  hrInput.addEventListener("change", () => { files.hr = /** @type {any} */ (hrInput).files[0] ?? null; check(); });
  tokInput.addEventListener("change", () => { files.tokens = /** @type {any} */ (tokInput).files[0] ?? null; check(); });
  paste.addEventListener("change", check);
  wireDrop(drop, files, check);
  root.append(el("section", { "aria-labelledby": "hr-title" }, el("h2", { id: "hr-title" }, t("hrTitle")),
    el("p", { class: "note" }, t("hrIntro")), drop,
    el("div", { class: "field" }, el("label", { for: "hr-file" }, t("hrFile")), hrInput),
    el("div", { class: "field" }, el("label", { for: "tokens-file" }, t("tokensFile")), tokInput),
    el("div", { class: "field" }, el("label", { for: "tokens-paste" }, t("tokensPaste")), paste),
    el("button", { type: "button", id: "check", onclick: check }, t("check")), report, progress));
}

/**
 * Files dropped on ``zone``: a name with "token" in it is the tokens file, the other the HR file.
 * @param {HTMLElement} zone
 * @param {{hr: File | null, tokens: File | null}} files
 * @param {() => void} then
 */
function wireDrop(zone, files, then) {
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("over");
    for (const f of ev.dataTransfer?.files ?? []) {
      if (/token/i.test(f.name)) files.tokens = f;
      else files.hr = f;
    }
    then();
  });
}

/**
 * Read both files, list the bad rows, and offer the upload.
 * @param {Manifest} m
 * @param {string} manifestText
 * @param {{hr: File | null, tokens: File | null}} files
 * @param {HTMLTextAreaElement | HTMLElement} paste
 * @param {HTMLElement} report
 * @param {HTMLElement} progress
 * @param {HTMLElement} root
 * @param {ReadonlySet<string>} pendingHashes tokens (SHA-256) of unfinished uploads
 */
async function checkFiles(m, manifestText, files, paste, report, progress, root, pendingHashes) {
  clearError();
  report.replaceChildren();
  if (!files.hr) return;
  let read;
  try {
    read = readHr(await bytesOf(files.hr), files.hr.name, m);
  } catch (e) {
    return fail(/** @type {Error} */ (e).message, /** @type {HTMLElement} */ (root.querySelector("#hr-file")));
  }
  const tokens = files.tokens ? tokenLines(await files.tokens.text()) : tokenLines(/** @type {any} */ (paste).value);
  const summary = el("p", { id: "rows-summary" }, t("rowsOk", { rows: read.rows.length, errors: read.errors.length }));
  report.append(summary);
  const exclude = el("input", { type: "checkbox", id: "exclude-errors" });
  if (read.errors.length) report.append(errorTable(read.errors), el("div", {}, exclude, " ",
    el("label", { for: "exclude-errors" }, t("excludeErrors"))));
  const upload = /** @type {HTMLButtonElement} */ (el("button", { type: "button", id: "upload" }, t("upload")));
  const ready = () => { upload.disabled = read.errors.length > 0 && !(/** @type {any} */ (exclude).checked); };
  exclude.addEventListener("change", ready);
  ready();
  upload.addEventListener("click", async () => {
    clearError();
    const why = tokensProblem(tokens, read.rows.length, pendingHashes);
    if (why) return fail(why, /** @type {HTMLElement} */ (files.tokens ? root.querySelector("#tokens-file") : paste));
    upload.disabled = true;
    await prepareAndUpload(m, manifestText, read.rows.map((r) => r.record), tokens.slice(0, read.rows.length), progress);
  });
  report.append(upload);
}

/**
 * Why these tokens cannot be used for ``rows`` rows ("" when they can), as salary-submit refuses
 * them: too few, not tokens, repeated, or already in an unfinished upload.
 * @param {string[]} tokens
 * @param {number} rows
 * @param {ReadonlySet<string>} pendingHashes
 */
function tokensProblem(tokens, rows, pendingHashes) {
  if (tokens.length < rows) return t("tooFewTokens", { rows, tokens: tokens.length });
  const used = tokens.slice(0, rows);
  if (used.some((tk) => !lib.isToken(tk))) return t("notTokens");
  const hashes = used.map(lib.tokenHash);
  if (new Set(hashes).size !== hashes.length) return t("repeatedTokens");
  if (hashes.some((h) => pendingHashes.has(h))) return t("tokensPending");
  return "";
}

/**
 * The bad rows, by line, with the library's message.
 * @param {ReadonlyArray<import("./core.js").HrError>} errors
 */
function errorTable(errors) {
  return el("table", { id: "row-errors" }, el("caption", {}, t("rowErrors")),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("where")), el("th", { scope: "col" }, t("problem")))),
    el("tbody", {}, ...errors.map((e) => el("tr", {}, el("td", {}, t("line", { line: e.line }) + (e.column ? ` (${e.column})` : "")), el("td", {}, e.message)))));
}

/**
 * Prepare the rows in the worker, keep the prepared batches, then upload them.
 * @param {Manifest} m
 * @param {string} manifestText
 * @param {any[]} rows the checked records
 * @param {string[]} tokens
 * @param {HTMLElement} progress
 */
async function prepareAndUpload(m, manifestText, rows, tokens, progress) {
  const bar = /** @type {HTMLProgressElement} */ (progress);
  bar.hidden = false;
  bar.max = rows.length;
  bar.value = 0;
  say(t("prepare", { done: 0, total: rows.length }));
  let batches;
  const started = performance.now();
  try {
    batches = await inWorker(manifestText, rows, (done) => {
      bar.value = done;
      say(t("prepare", { done, total: rows.length }));
    });
  } catch (e) {
    return fail(/** @type {Error} */ (e).message);
  }
  bar.dataset.prepareMs = String(Math.round(performance.now() - started));
  let at = 0;
  /** @type {PendingRun} */
  const run = {
    id: `${m.surveyId}-${Date.now()}-${lib.toHex(lib.secureRandomBytes(4))}`, surveyId: m.surveyId, manifestHash: m.hashHex(),
    rows: rows.length, createdAt: new Date().toISOString(),
    batches: batches.map((prepared) => ({ prepared, tokenHashes: tokens.slice(at, (at += prepared.ids.length)).map(lib.tokenHash),
      acked: [] })),
  };
  await saveRun(run);
  await uploadRun(m, run, bar, tokens);
}

/**
 * @param {string} manifestText
 * @param {any[]} rows the checked records
 * @param {(done: number) => void} onProgress
 * @returns {Promise<any[]>}
 */
async function inWorker(manifestText, rows, onProgress) {
  const worker = await startWorker();
  /** @type {any[]} */
  const batches = [];
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (ev) => {
        const msg = ev.data;
        if ("progress" in msg) onProgress(msg.progress);
        else if ("batch" in msg) batches.push(msg.batch);
        else if ("done" in msg) resolve(batches);
        else reject(new Error(msg.error));
      };
      worker.onerror = (ev) => reject(new Error(ev.message || "the preparing worker failed"));
      worker.postMessage({ manifest: manifestText, records: rows });
    });
  } finally {
    worker.terminate();
  }
}

/**
 * Send every batch to every node that has not acknowledged it, keeping each acknowledgement.
 * @param {Manifest} m
 * @param {PendingRun} run
 * @param {HTMLProgressElement} bar
 * @param {string[]} tokens at least the run's tokens (found by their SHA-256)
 */
export async function uploadRun(m, run, bar, tokens) {
  const byHash = new Map(tokens.map((tk) => [lib.tokenHash(tk), tk]));
  if (run.batches.some((b) => b.tokenHashes.some((h) => !byHash.has(h)))) return fail(t("tokensMissing"));
  bar.hidden = false;
  bar.max = run.batches.length;
  /** @type {string[]} */
  const problems = [];
  for (const [b, batch] of run.batches.entries()) {
    say(t("uploading", { batch: b + 1, batches: run.batches.length }));
    const todo = m.nodes.map((_, i) => i).filter((i) => !batch.acked.includes(i));
    const batchTokens = batch.tokenHashes.map((h) => /** @type {string} */ (byHash.get(h)));
    const answers = await Promise.all(todo.map((i) => sendBatch(m, batch.prepared, batchTokens, i)
      .catch((e) => ({ refused: "", detail: /** @type {Error} */ (e).message }))));
    answers.forEach((a, k) => {
      if ("ack" in a) batch.acked.push(todo[k]);
      else problems.push("detail" in a ? a.detail : a.unreachable);
    });
    await saveRun(run);
    bar.value = run.batches.filter((x) => x.acked.length === m.n).length;
  }
  const acked = run.batches.filter((x) => x.acked.length === m.n).length;
  if (acked === run.batches.length) {
    await deleteRun(run.id);
    say(t("hrDone", { rows: run.rows }));
  } else {
    say("");
    fail(t("hrPartly", { acked, batches: run.batches.length, why: [...new Set(problems)].join("; ") }));
  }
}

/**
 * The offer to resume (or discard) an unfinished run.
 * @param {Manifest} m
 * @param {PendingRun} run
 * @param {HTMLElement} progress
 */
function resumeSection(m, run, progress) {
  const acked = run.batches.filter((x) => x.acked.length === m.n).length;
  const section = el("section", { id: "pending", "aria-labelledby": "pending-title" },
    el("h2", { id: "pending-title" }, t("resumeFound", { rows: run.rows, acked, batches: run.batches.length })));
  const tokensFile = el("input", { id: "resume-tokens-file", type: "file", accept: ".txt,text/plain" });
  const paste = el("textarea", { id: "resume-tokens-paste", spellcheck: "false", autocomplete: "off" });
  const resume = el("button", { type: "button", id: "resume", onclick: async () => {
    clearError();
    const file = /** @type {any} */ (tokensFile).files[0];
    const tokens = tokenLines(file ? await file.text() : /** @type {any} */ (paste).value);
    /** @type {HTMLButtonElement} */ (resume).disabled = true;
    await uploadRun(m, run, /** @type {HTMLProgressElement} */ (progress), tokens);
    /** @type {HTMLButtonElement} */ (resume).disabled = false;
  } }, t("resume"));
  const discard = el("button", { type: "button", class: "secondary", id: "discard", onclick: async () => {
    await deleteRun(run.id);
    section.remove();
  } }, t("discard"));
  section.append(el("p", { class: "note" }, t("resumeTokens")),
    el("div", { class: "field" }, el("label", { for: "resume-tokens-file" }, t("tokensFile")), tokensFile),
    el("div", { class: "field" }, el("label", { for: "resume-tokens-paste" }, t("tokensPaste")), paste), resume, discard);
  return section;
}
