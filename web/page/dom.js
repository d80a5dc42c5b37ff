/**
 * Building the page's elements (text only: no HTML strings are parsed, so nothing a node or a
 * file says can become markup) and its two live regions: status (progress, polite) and errors
 * (assertive).
 */

/**
 * An element with attributes (``on…`` keys add listeners) and children.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = String(v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

/** @param {string} id */
export function byId(id) {
  return /** @type {HTMLElement} */ (document.getElementById(id));
}

/**
 * Say ``text`` in the polite status region.
 * @param {string} text
 */
export function say(text) {
  byId("status").textContent = text;
}

/**
 * Show a one-line error in the assertive region and move the focus to ``field`` (if given).
 * @param {string} text
 * @param {HTMLElement | null} [field]
 */
export function fail(text, field = null) {
  const box = byId("error");
  box.textContent = text;
  box.hidden = !text;
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

/** Clear the error region and every field's invalid mark. */
export function clearError() {
  fail("");
  for (const f of document.querySelectorAll("[aria-invalid]")) f.removeAttribute("aria-invalid");
}

/**
 * Offer ``data`` as a file to save.
 * @param {string} name
 * @param {string} text
 */
export function downloadLink(name, text, label) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  return el("a", { href: url, download: name, class: "button", id: "receipt-link" }, label);
}
