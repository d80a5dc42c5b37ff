/**
 * The survey as every node serves it: the participation link read from the URL fragment, the
 * manifest fetched from the page's node, checked against the link's ``m=`` hash, then fetched
 * from every node and refused unless each serves the same bytes.
 */

import { lib } from "./core.js";

/** @import { Manifest } from "../src/manifest.js" */

/**
 * What a link's fragment carries (``#t=TOKEN&m=HASH``, and ``&s=SURVEY&n=NODE`` for a copy of
 * the page not served by a node).
 * @typedef {{token: string, manifestHash: string, surveyId: string, node: string, lang: string}} Link
 */

/**
 * @param {string} fragment ``location.hash``
 * @returns {Link}
 */
export function readLink(fragment) {
  const p = new URLSearchParams(fragment.replace(/^#/, ""));
  return { token: p.get("t") ?? "", manifestHash: (p.get("m") ?? "").toLowerCase(), surveyId: p.get("s") ?? "",
    node: (p.get("n") ?? "").replace(/\/+$/, ""), lang: p.get("lang") ?? "" };
}

/**
 * The URL of the manifest the link names: the node's and survey's from the fragment, else
 * ``../manifest`` beside the page a node serves.
 * @param {Link} link
 * @param {string} pageUrl
 */
export function manifestUrl(link, pageUrl) {
  if (link.node && link.surveyId) return `${link.node}/v1/surveys/${encodeURIComponent(link.surveyId)}/manifest`;
  return new URL("../manifest", pageUrl).href;
}

/**
 * The base URL a browser uses for node ``i``.
 * @param {Manifest} m
 * @param {number} i
 */
export function nodeBase(m, i) {
  const nd = /** @type {any} */ (m.nodes[i]);
  return String(nd.webUrl ?? nd.url).replace(/\/+$/, "");
}

/**
 * @param {string} url
 * @returns {Promise<Uint8Array>}
 */
async function fetchBytes(url) {
  const r = await fetch(url, { cache: "no-store", credentials: "omit" });
  if (!r.ok) throw new lib.SurveyError(`${url} answered HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/**
 * The checked manifest: throws InvalidManifest when the link's hash or any node differs, and
 * NodeUnreachable when too few nodes could confirm it.
 * @param {Link} link
 * @param {string} pageUrl
 * @returns {Promise<Manifest>}
 */
export async function loadSurvey(link, pageUrl) {
  const url = manifestUrl(link, pageUrl);
  let bytes;
  try {
    bytes = await fetchBytes(url);
  } catch (e) {
    throw new lib.NodeUnreachable(`cannot fetch the survey manifest from ${url}: ${/** @type {Error} */ (e).message}`);
  }
  const m = lib.parseManifest(bytes);
  if (link.manifestHash && link.manifestHash !== m.hashHex()) {
    throw new lib.InvalidManifest(`refusing to submit: this link is for manifest ${link.manifestHash.slice(0, 16)}…, `
      + `but ${url} serves manifest ${m.hashHex().slice(0, 16)}…`);
  }
  const served = await Promise.all(m.nodes.map(async (_, i) => {
    try {
      return { bytes: await fetchBytes(`${nodeBase(m, i)}/v1/surveys/${encodeURIComponent(m.surveyId)}/manifest`) };
    } catch (e) {
      return e instanceof lib.SurveyError ? { error: e.message } : { unreachable: "unreachable" };
    }
  }));
  lib.checkServedManifests(m, served);
  return m;
}
