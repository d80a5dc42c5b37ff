"""Every domain-separation label of the protocol, in one place.

Each hash, signature and HPKE ``info`` that nodes or contributors must agree on starts with one
of these byte strings, so that a value computed for one purpose can never be accepted for
another.  The version in each label is the protocol revision that introduced that byte layout;
changing a label changes bytes every party must agree on (the known-answer vectors in
``tests/vectors`` pin them).  ``tests/test_labels.py`` checks that all labels are distinct and
that none is a prefix of another.
"""

from __future__ import annotations

from enum import Enum


class Label(bytes, Enum):
    """A domain-separation prefix.  Use ``Label.X.value`` (or the member itself: it is bytes)."""

    # protocol.envelope: HPKE info of sealed shares and result shares
    SUBMISSION_SHARE = b"salary-mpc/v1 submission share\x00"
    RESULT_SHARE = b"salary-mpc/v1 result share\x00"
    # protocol.commitment: submission ids, share commitments, certificates, batch Merkle trees
    SUBMISSION_ID = b"salary-mpc/v2 submission id\x00"
    SHARE_COMMITMENT = b"salary-mpc/v2 share commitment\x00"
    SUBMISSION_CERTIFICATE = b"salary-mpc/v2 submission certificate\x00"
    BATCH_RECORD_ID = b"salary-mpc/v3 batch record id\x00"
    BATCH_ENVELOPE_ID = b"salary-mpc/v2 batch envelope id\x00"
    BATCH_LEAF = b"salary-mpc/v2 batch leaf\x00"
    BATCH_NODE = b"salary-mpc/v2 batch node\x00"
    BATCH_EMPTY_LEAF = b"salary-mpc/v2 batch empty leaf\x00"
    BATCH_CERTIFICATE = b"salary-mpc/v2 batch certificate\x00"
    # protocol.nodeauth: signed node requests, frozen sets, audit heads and accusations (text statements)
    NODE_REQUEST = b"salary-mpc/v1 node request\n"
    FROZEN_SET = b"salary-mpc/v2 frozen set\n"
    AUDIT_HEAD = b"salary-mpc/v1 audit head\n"
    ACCUSATION = b"salary-mpc/v1 accusation\n"
    ENDORSEMENT = b"salary-mpc/v1 accusation endorsement\n"
    # protocol.validity: the validation challenge expanded from the joint seed
    VALIDATION_CHALLENGE = b"salary-mpc/v4 validation challenge\x00"
    # protocol.dp: a node's noise stream, and the seed a node derives from its secret key
    DP_NOISE = b"salary-mpc/v3 dp noise\x00"
    DP_NOISE_SEED = b"salary-mpc/v3 dp noise seed\x00"
    # the MPC parties: signed broadcast messages, the commit-and-reveal coin, the run id
    PARTY_MESSAGE = b"salary-mpc/v2 party message\x00"
    COIN = b"salary-mpc/v2 coin\x00"
    RUN_ID = b"salary-mpc/v2 run id\x00"
