/**
 * Bundle for the browser: src/index.js, the contributor library, as one minified ES module
 * (``npm run build`` writes dist/salary-mpc-core.js and the esbuild metafile beside it;
 * test/bundle.test.js builds the same options in memory); and the survey page, page/app.js with
 * the library and its worker code as one module, written with its index.html (the bundle's
 * SHA-256 as the script's integrity) into ../analyst/webpage/, the files the nodes serve.  Both
 * builds use fixed options and the pinned esbuild, so that the same sources give the same bytes.
 */

import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** @type {import("esbuild").BuildOptions} */
export const bundleOptions = {
  entryPoints: [fileURLToPath(new URL("src/index.js", import.meta.url))],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "eof",
  logLevel: "warning",
};

/** @type {import("esbuild").BuildOptions} */
export const pageOptions = {
  ...bundleOptions,
  entryPoints: [fileURLToPath(new URL("page/app.js", import.meta.url))],
  charset: "utf8",
};

/**
 * The page's two files: the bundle and the HTML that loads it with its integrity.
 * @returns {Promise<{script: Uint8Array, html: string}>}
 */
export async function buildPage() {
  const result = await build({ ...pageOptions, write: false, outfile: "salary-page.js" });
  const script = result.outputFiles[0].contents;
  const sri = createHash("sha256").update(script).digest("base64");
  const template = readFileSync(new URL("page/index.html", import.meta.url), "utf8");
  return { script, html: template.replace("@SRI@", sri) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = fileURLToPath(new URL("dist/salary-mpc-core.js", import.meta.url));
  const result = await build({ ...bundleOptions, outfile: out, metafile: true });
  const bytes = Object.values(result.metafile.outputs)[0].bytes;
  writeFileSync(new URL("dist/meta.json", import.meta.url), JSON.stringify(result.metafile));
  console.log(`${out}: ${bytes} bytes`);
  const page = await buildPage();
  const dir = new URL("../analyst/webpage/", import.meta.url);
  writeFileSync(new URL("salary-page.js", dir), page.script);
  writeFileSync(new URL("index.html", dir), page.html);
  console.log(`${fileURLToPath(dir)}: salary-page.js ${page.script.length} bytes, index.html`);
}
