/**
 * The survey page's entry: in a window, the employee's form (a link with ``t=``) or HR staff's
 * upload (no ``t=``), after checking that every node serves the survey's manifest; in a worker
 * (this same bundle, started by the page), the preparing of HR rows.
 */

import { lib } from "./core.js";
import { byId, el, fail, say } from "./dom.js";
import { employeeView } from "./employee.js";
import { hrView } from "./hr.js";
import { LANGUAGES, language, pickLanguage, setLanguage, t } from "./i18n.js";
import { applyStyle } from "./style.js";
import { loadSurvey, readLink } from "./survey.js";
import { serveWorker } from "./worker.js";

/** @import { Manifest } from "../src/manifest.js" */

/**
 * The header: the survey's title and the language switch.
 * @param {string} title
 * @param {(lang: string) => void} onSwitch
 */
function header(title, onSwitch) {
  const select = el("select", { id: "lang" }, ...LANGUAGES.map(([code, name]) =>
    el("option", { value: code, lang: code, selected: code === language() }, name)));
  select.addEventListener("change", () => onSwitch(/** @type {HTMLSelectElement} */ (select).value));
  return el("header", {}, el("h1", { id: "page-title" }, title), el("label", { for: "lang" }, t("language"), select));
}

/**
 * Lay the page out for the loaded survey (again after a language switch).
 * @param {Manifest} m
 * @param {string} token
 */
function render(m, token) {
  const body = document.body;
  const main = el("main", { id: "app" });
  const errorBox = el("div", { id: "error", class: "error", role: "alert", "aria-live": "assertive", hidden: true });
  const status = el("div", { id: "status", role: "status", "aria-live": "polite" });
  const switchTo = (/** @type {string} */ lang) => {
    setLanguage(lang);
    render(m, token);
    byId("lang").focus();
  };
  document.title = `${m.title} — ${t("title")}`;
  main.append(errorBox, el("p", { class: "note", id: "checked" }, t("checked", { hash: m.hashHex().slice(0, 16) + "…" }),
    " ", t("closes", { when: new Date(m.closesAtMs()).toLocaleString(language()) })));
  body.replaceChildren(header(m.title, switchTo), main, el("div", { class: "live" }, status));
  if (token) employeeView(main, m, token);
  else hrView(main, m, m.canonicalText).catch((e) => fail(e.message));
}

/** Load the survey the link names and show its flow; any refusal is shown as one line. */
async function start() {
  applyStyle();
  const link = readLink(location.hash);
  setLanguage(pickLanguage(link.lang || navigator.language));
  const main = byId("app");
  const status = el("div", { id: "status", role: "status", "aria-live": "polite" });
  const errorBox = el("div", { id: "error", class: "error", role: "alert", "aria-live": "assertive", hidden: true });
  main.replaceChildren(errorBox, status);
  say(t("loading"));
  let m;
  try {
    m = await loadSurvey(link, location.href);
  } catch (e) {
    say("");
    return fail(e instanceof lib.SurveyError ? e.message : String(e));
  }
  if (!link.lang) setLanguage(pickLanguage(/** @type {any} */ (m).language || navigator.language));
  // The token stays in this page's memory only: out of the address bar and the history.
  if (link.token) history.replaceState(null, "", location.pathname + location.search);
  render(m, link.token);
}

if (typeof document === "undefined") serveWorker();
else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
