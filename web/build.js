/**
 * Bundle src/index.js for the browser: one ES module, minified, with the libraries' license
 * notices kept at its end.  ``npm run build`` writes dist/salary-mpc-core.js (and the esbuild
 * metafile beside it); test/bundle.test.js builds the same options in memory.
 */

import { build } from "esbuild";
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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = fileURLToPath(new URL("dist/salary-mpc-core.js", import.meta.url));
  const result = await build({ ...bundleOptions, outfile: out, metafile: true });
  const bytes = Object.values(result.metafile.outputs)[0].bytes;
  const { writeFileSync } = await import("node:fs");
  writeFileSync(new URL("dist/meta.json", import.meta.url), JSON.stringify(result.metafile));
  console.log(`${out}: ${bytes} bytes`);
}
