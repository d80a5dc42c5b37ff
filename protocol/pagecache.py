"""The page-cache hint shared by the roles: a file written or read once, in bulk, should not
push out of the cache the pages that are read next.

The nodes read each database and share bucket file once per compute (1e6 submissions, 3 nodes on
a 2-core, 24 GB machine: 84 s instead of 72 s with those pages kept); an HR run writes gigabytes of
sealed envelopes read back only at their batch's upload (kept cached, every later write first made
the kernel reclaim memory, which cost more CPU than sharing and sealing together).
"""

from __future__ import annotations

import os
from pathlib import Path


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
