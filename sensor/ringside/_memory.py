"""Giving back the memory bcc's compiler used, once the programs are loaded.

bcc compiles inside our process: clang and LLVM touch ~85 MB of their
libraries' pages and grow the heap by tens of MB.  None of it is needed
again unless we compile again, yet it stays counted in the sensor's
resident memory, which is what an operator sees and budgets.  Measured
here: ~183 MB after start without this, ~80 MB with it.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

MADV_PAGEOUT = 21  # Linux 5.4: reclaim these pages now (file pages are dropped, not written)
# The compiler's libraries, as they appear in /proc/self/maps.
COMPILER_LIBRARIES = ("libLLVM", "libclang")


def release_compiler_memory() -> None:
    """Trim the heap and page out the compiler's libraries; best effort, never raises."""
    # The process's own symbols, libc's among them.  (ctypes.util.find_library
    # would run ldconfig in a child process: an exec event from the sensor.)
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        libc.malloc_trim(0)  # glibc: hand freed heap pages back to the kernel
    except AttributeError:
        pass  # not glibc
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6 or not any(lib in parts[5] for lib in COMPILER_LIBRARIES):
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        if madvise(start, end - start, MADV_PAGEOUT) != 0:
            log.debug("madvise(MADV_PAGEOUT) on %s: errno %d", parts[5], ctypes.get_errno())
