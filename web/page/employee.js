/**
 * The employee's flow: a form with the survey's questions in the organiser's labels, the record
 * checked by the library (its one-line message shown, the field focused), proved, shared, sealed
 * and signed in the page, sent to every node; "already submitted" offers a replacement; a
 * receipt (ids and acknowledgements, never the pay) to download.
 */

import { components, labels, lib, recordOf, vectorOf } from "./core.js";
import { clearError, downloadLink, el, fail, say } from "./dom.js";
import { t } from "./i18n.js";
import { sendSubmission } from "./upload.js";

/** @import { Manifest } from "../src/manifest.js" */

const RECEIPT_FORMAT = "salary-submit/receipt/v1";

/**
 * A select of ``keys`` shown by their labels.
 * @param {string} id
 * @param {readonly string[]} keys
 * @param {Readonly<Record<string, string>>} names
 */
function choice(id, keys, names) {
  return el("select", { id, name: id, required: true },
    el("option", { value: "" }, t("choose")), ...keys.map((k) => el("option", { value: k }, names[k] ?? k)));
}

/**
 * @param {string} id
 * @param {string} label
 * @param {HTMLElement} input
 */
function field(id, label, input) {
  return el("div", { class: "field" }, el("label", { for: id }, label), input);
}

/** @param {string} id */
function amount(id) {
  return el("input", { id, name: id, type: "text", inputmode: "decimal", autocomplete: "off", required: true });
}

/** @param {Manifest} m */
function periodWords(m) {
  const period = /** @type {any} */ (m).payPeriod ?? "";
  return {
    pay: period === "monthly" ? t("perMonth") : period === "annual" ? t("perYear") : "",
    hours: period === "monthly" ? t("monthHours") : period === "annual" ? t("yearHours") : t("periodHours"),
  };
}

/**
 * The form's fields, in the survey's order.
 * @param {Manifest} m
 */
function formFields(m) {
  const comps = components(m);
  const words = periodWords(m);
  const unit = m.salaryUnit;
  return [
    field("gender", t("gender"), choice("gender", m.categories, labels(m, "gender"))),
    m.jobCategories.length ? field("job", t("job"), choice("job", m.jobCategories, labels(m, "job"))) : null,
    field("basic", t("basic", { unit, period: words.pay }), amount("basic")),
    comps.includes("variable") ? field("variable", t("variable", { unit, period: words.pay }), amount("variable")) : null,
    comps.includes("hours") ? field("hours", t("hours", { period: words.hours }), amount("hours")) : null,
  ];
}

/**
 * The form's answers as typed.
 * @param {HTMLFormElement} form
 */
function answersOf(form) {
  /** @type {Record<string, string>} */
  const a = {};
  for (const name of ["gender", "job", "basic", "variable", "hours"]) {
    const input = /** @type {HTMLInputElement | null} */ (form.elements.namedItem(name));
    if (input) a[name] = input.value;
  }
  return /** @type {import("./core.js").Answers} */ (a);
}

/**
 * The field a library message is about (the form's first field otherwise).
 * @param {HTMLFormElement} form
 * @param {string} message
 */
function fieldFor(form, message) {
  const low = message.toLowerCase();
  const names = [["job", "job"], ["categor", "job"], ["gender", "gender"], ["variable", "variable"], ["hour", "hours"]];
  for (const [word, name] of names) {
    const f = form.elements.namedItem(name);
    if (low.includes(word) && f) return /** @type {HTMLElement} */ (f);
  }
  return /** @type {HTMLElement} */ (form.elements.namedItem("basic"));
}

/**
 * The receipt of one submission: what the Python contributor keeps, without pay or token.
 * @param {Manifest} m
 * @param {any} prepared
 * @param {Map<number, import("./upload.js").NodeAnswer>} answers
 */
export function receiptOf(m, prepared, answers) {
  const acks = [...answers].filter(([, a]) => "ack" in a).map(([i, a]) => {
    const ack = /** @type {any} */ (a).ack;
    return { node_index: i, node: m.nodes[i].name, status: ack.status, envelope_sha256: ack.envelope_sha256,
      stored_at: ack.stored_at, replaced_submission_id: ack.replaced_submission_id ?? null };
  });
  return {
    format: RECEIPT_FORMAT, submission_id: prepared.submissionId, survey_id: m.surveyId, manifest_hash: m.hashHex(),
    replace: prepared.replace, complete: acks.length === m.n, acks,
    pending_nodes: m.nodes.filter((_, i) => !acks.some((a) => a.node_index === i)).map((nd) => nd.name),
    written_at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
}

/**
 * Build the employee's view into ``root``.
 * @param {HTMLElement} root
 * @param {Manifest} m
 * @param {string} token
 */
export function employeeView(root, m, token) {
  const form = /** @type {HTMLFormElement} */ (el("form", { id: "employee-form", novalidate: true },
    el("p", { class: "note" }, t("employeeIntro")), ...formFields(m),
    el("button", { type: "submit", id: "submit" }, t("submit"))));
  const result = el("div", { id: "result" });
  root.append(el("section", { "aria-labelledby": "form-title" }, el("h2", { id: "form-title" }, m.title), form), result);
  /** @type {{prepared: any, answers: Map<number, any>} | null} */
  let sent = null;
  form.addEventListener("input", (ev) => {
    const target = /** @type {HTMLElement} */ (ev.target);
    if (target.getAttribute("aria-invalid")) clearError();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearError();
    let record;
    try {
      record = recordOf(m, answersOf(form));
    } catch (e) {
      return fail(/** @type {Error} */ (e).message, fieldFor(form, /** @type {Error} */ (e).message));
    }
    await send(m, token, record, false, form, result, (s) => { sent = s; });
  });
  return () => sent;
}

/**
 * Prepare and send one record; show the outcome (receipt, replace offer, or what failed).
 * @param {Manifest} m
 * @param {string} token
 * @param {any} record
 * @param {boolean} replace
 * @param {HTMLFormElement} form
 * @param {HTMLElement} result
 * @param {(s: any) => void} keep
 */
async function send(m, token, record, replace, form, result, keep) {
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  button.disabled = true;
  result.replaceChildren();
  try {
    say(t("preparing"));
    const started = performance.now();
    const prepared = await lib.prepareSubmission(m, vectorOf(m, record), { replace });
    result.dataset.prepareMs = String(Math.round(performance.now() - started));
    say(t("sending", { n: m.n }));
    const answers = await sendSubmission(m, prepared, token, m.nodes.map((_, i) => i));
    keep({ prepared, answers });
    showOutcome(m, token, record, prepared, answers, form, result, keep);
  } catch (e) {
    say("");
    fail(/** @type {Error} */ (e).message);
  } finally {
    button.disabled = false;
  }
}

/**
 * @param {Manifest} m
 * @param {string} token
 * @param {any} record
 * @param {any} prepared
 * @param {Map<number, any>} answers
 * @param {HTMLFormElement} form
 * @param {HTMLElement} result
 * @param {(s: any) => void} keep
 */
function showOutcome(m, token, record, prepared, answers, form, result, keep) {
  const refused = [...answers.values()].filter((a) => "refused" in a);
  const acked = [...answers.values()].filter((a) => "ack" in a).length;
  if (!prepared.replace && refused.length && refused.every((a) => a.refused === "token-used")) {
    say("");
    const again = el("button", { type: "button", id: "replace", onclick: () => send(m, token, record, true, form, result, keep) },
      t("replace"));
    result.append(el("section", { "aria-labelledby": "already" }, el("h2", { id: "already" }, t("alreadyTitle")),
      el("p", {}, refused[0].detail), el("p", { class: "note" }, t("replaceNote")), again));
    again.focus();
    return;
  }
  const problems = [...answers.values()].filter((a) => !("ack" in a)).map((a) => a.detail ?? a.unreachable);
  if (acked === 0) return fail(problems.join("; "));
  if (acked < m.n) result.append(retryButton(m, token, record, prepared, answers, form, result, keep));
  const receipt = receiptOf(m, prepared, answers);
  const text = JSON.stringify(receipt, null, 1) + "\n";
  const msg = acked === m.n ? t("done", { id: prepared.submissionId })
    : t("partly", { ok: acked, n: m.n, why: problems.join("; ") });
  say(msg);
  const link = downloadLink(`receipt-${m.surveyId}-${prepared.submissionId}.json`, text, t("receipt"));
  result.append(el("section", { "aria-labelledby": "done-title", id: "receipt" },
    el("h2", { id: "done-title", class: "ok" }, msg), el("p", { class: "note" }, t("receiptNote")), link));
  link.focus();
}

/**
 * Send the same prepared record again to the nodes that did not acknowledge it (a node that
 * stored it meanwhile answers "duplicate").
 * @param {Manifest} m
 * @param {string} token
 * @param {any} record
 * @param {any} prepared
 * @param {Map<number, any>} answers
 * @param {HTMLFormElement} form
 * @param {HTMLElement} result
 * @param {(s: any) => void} keep
 */
function retryButton(m, token, record, prepared, answers, form, result, keep) {
  return el("button", { type: "button", id: "retry", onclick: async () => {
    clearError();
    const missing = [...answers].filter(([, a]) => !("ack" in a)).map(([i]) => i);
    const more = await sendSubmission(m, prepared, token, missing);
    const all = new Map([...answers, ...more]);
    keep({ prepared, answers: all });
    result.replaceChildren();
    showOutcome(m, token, record, prepared, all, form, result, keep);
  } }, t("retry"));
}
