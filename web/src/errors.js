/**
 * The errors this library raises, mirroring protocol/errors.py: every check throws (never
 * returns false), with a one-line message meant for the person using the page.
 */

export class SurveyError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The manifest is not valid JSON, not a valid survey, or not the one every node serves. */
export class InvalidManifest extends SurveyError {}

/** An upload (or a part of it) is malformed or does not verify. */
export class InvalidSubmission extends SurveyError {}

/** A sealed envelope does not open: tampered, or sealed for another survey, node or submission. */
export class DecryptionFailed extends SurveyError {}

/** Too few nodes could be reached to go on. */
export class NodeUnreachable extends SurveyError {}
