"""Deviations a node can be told to commit, for the cheating-node tests and the demo only
(``mpc-node compute --cheat STEP``): what an attacker controlling that node could do.

A module of its own so that the CLI can offer the choices without importing the MPC program
(asyncio and the rest), which ``mpc-node compute`` runs in a separate process anyway.
"""

CHEATS = ("agree", "equivocate", "garbage", "pickle", "validate", "open", "result")
