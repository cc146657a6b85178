"""Keep the service's resident memory from creeping under concurrent load (glibc only).

glibc's malloc gives each thread that allocates while others do its own arena (up to
eight per core) and, after a large block is freed, raises its mmap threshold to that
block's size, so later blocks of that size come from the arenas instead of fresh
mappings. The thread pool's scoring temporaries (a few MB per list scored afresh) then
stay resident as free space scattered over many arenas. Fewer arenas and a fixed mmap
threshold return such blocks to the system when they are freed.
"""

from __future__ import annotations

import ctypes
import sys

_M_MMAP_THRESHOLD = -3  # mallopt parameters, from glibc's <malloc.h>
_M_ARENA_MAX = -8


def bound_malloc(arenas: int, mmap_threshold_bytes: int) -> bool:
    """Set glibc's arena limit and a fixed mmap threshold for this process; False where
    the C library is not glibc (nothing is changed then). Call before threads start."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas)) and bool(
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold_bytes)
    )
