"""Two operating-system hints shared by the node's processes.

``die_with_parent``: a child process (the MPC party of ``mpc-node compute``, an extra worker of
``mpc-node serve --workers``) gets SIGKILL when its parent dies, so no orphan keeps a port.

``drop_from_page_cache``: a million-row compute reads each node's database once and each share
bucket file once, all sequentially.  With three or four nodes on one machine, keeping those pages cached pushed out
the pages read next (1e6 submissions, 3 nodes: 84 s instead of 72 s in ``python -m benchmarks
--full`` runs on a 2-core, 24 GB machine); telling the kernel they will not be read again soon
keeps the cache for what comes next.
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path


def die_with_parent() -> None:  # pragma: no cover - runs in a child process
    """Linux: this process gets SIGKILL when its parent dies (PR_SET_PDEATHSIG); elsewhere nothing."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def drop_from_page_cache(path: Path) -> None:
    """Hint that the file's cached pages will not be read again soon (no effect where the OS
    has no ``posix_fadvise``, or on a file that cannot be opened; never raises)."""
    if not hasattr(os, "posix_fadvise"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass
    finally:
        os.close(fd)
