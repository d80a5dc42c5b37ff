/**
 * Every domain-separation label of the protocol, byte for byte those of protocol/labels.py
 * (tests/test_web_core.py compares the two registries).  Each hash, signature and HPKE info
 * that nodes and contributors must agree on starts with one of these, so that a value computed
 * for one purpose is never accepted for another.  Labels are ASCII; {@link labelBytes} gives
 * their bytes.  No other module spells a label.
 */

/** @typedef {keyof typeof Label} LabelName */

export const Label = Object.freeze({
  // envelope: HPKE info of sealed shares and result shares
  SUBMISSION_SHARE: "salary-mpc/v1 submission share\x00",
  RESULT_SHARE: "salary-mpc/v1 result share\x00",
  // commitment: submission ids, share commitments, certificates, batch Merkle trees
  SUBMISSION_ID: "salary-mpc/v2 submission id\x00",
  SHARE_COMMITMENT: "salary-mpc/v2 share commitment\x00",
  SUBMISSION_CERTIFICATE: "salary-mpc/v2 submission certificate\x00",
  BATCH_RECORD_ID: "salary-mpc/v3 batch record id\x00",
  BATCH_ENVELOPE_ID: "salary-mpc/v2 batch envelope id\x00",
  BATCH_LEAF: "salary-mpc/v2 batch leaf\x00",
  BATCH_NODE: "salary-mpc/v2 batch node\x00",
  BATCH_EMPTY_LEAF: "salary-mpc/v2 batch empty leaf\x00",
  BATCH_CERTIFICATE: "salary-mpc/v2 batch certificate\x00",
  // the nodes' own statements (not used by contributors; kept so the registries stay equal)
  NODE_REQUEST: "salary-mpc/v1 node request\n",
  FROZEN_SET: "salary-mpc/v2 frozen set\n",
  AUDIT_HEAD: "salary-mpc/v1 audit head\n",
  ACCUSATION: "salary-mpc/v1 accusation\n",
  ENDORSEMENT: "salary-mpc/v1 accusation endorsement\n",
  VALIDATION_CHALLENGE: "salary-mpc/v4 validation challenge\x00",
  DP_NOISE: "salary-mpc/v3 dp noise\x00",
  DP_NOISE_SEED: "salary-mpc/v3 dp noise seed\x00",
  PARTY_MESSAGE: "salary-mpc/v2 party message\x00",
  COIN: "salary-mpc/v2 coin\x00",
  RUN_ID: "salary-mpc/v2 run id\x00",
});

/**
 * The bytes of a label (a fresh copy: callers may not share mutable buffers).
 * @param {LabelName} name
 * @returns {Uint8Array}
 */
export function labelBytes(name) {
  const text = Label[name];
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
