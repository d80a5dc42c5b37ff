"""An operating-system hint for the node's processes: ``die_with_parent``, so that a child
process (the MPC party of ``mpc-node compute``, an extra worker of ``mpc-node serve --workers``)
gets SIGKILL when its parent dies and no orphan keeps a port.  (The page-cache hint every role
uses is :mod:`protocol.pagecache`.)
"""

from __future__ import annotations

import ctypes
import signal


def die_with_parent() -> None:  # pragma: no cover - runs in a child process
    """Linux: this process gets SIGKILL when its parent dies (PR_SET_PDEATHSIG); elsewhere nothing."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass

