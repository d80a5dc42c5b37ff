/**
 * The browser-side salary-mpc contributor protocol, byte-compatible with the Python
 * contributor (protocol/): field and Shamir sharing, the manifest's canonical identity, HPKE
 * envelopes, certificates and batch certificates, the wire forms, the labels, one employee's
 * record vector with its validity proof (one-figure and complete surveys), the batched prover
 * and the HR-file reader.  The bundle (``npm run build``) is built from this
 * module.
 */

export * from "./amounts.js";
export * from "./bytes.js";
export * from "./commitment.js";
export * from "./envelope.js";
export * from "./errors.js";
export * from "./field.js";
export * from "./hrfile.js";
export * from "./json.js";
export * from "./labels.js";
export * from "./manifest.js";
export * from "./proof.js";
export * from "./prover.js";
export * from "./record.js";
export * from "./scheme.js";
export * from "./submission.js";
export * from "./text.js";
export * from "./tokens.js";
export * from "./wire.js";
