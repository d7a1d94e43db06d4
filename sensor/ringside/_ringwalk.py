"""The ring reader's header walk in C (``_ringwalk.c``): building and loading it.

The walk over a ring's 8-byte record headers is the one loop of the reader
that runs per record; in Python it costs ~0.2 us a record, in C a few ns.
The shared library is built once, by ``make setup`` (see ``_native.py``).
Without it the reader walks in Python: slower, same records.

The reader hands the C function the address of its read-only mapping of the
ring.  ctypes can only take the address of a writable buffer, so the
address comes from CPython's buffer protocol (``PyObject_GetBuffer``, in
the stable ABI); the buffer is released before the mapping is closed.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import Any

from ._native import RINGWALK

log = logging.getLogger(__name__)


def library_path() -> Path:
    """Where the library built from the current source is."""
    return RINGWALK.path


def build() -> Path:
    """Compile the library next to its source (idempotent); the path it is at."""
    return RINGWALK.build()


WalkFunction = Any  # the ctypes function ringside_ring_walk


def load() -> WalkFunction | None:
    """The C walk, or None when it is not built (the reader then walks in Python)."""
    path = library_path()
    if not path.exists():
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        log.warning("cannot load %s (%s); the ring reader walks in Python", path.name, exc)
        return None
    fn = lib.ringside_ring_walk
    fn.restype = ctypes.c_uint64
    fn.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64,
                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32,
                   ctypes.POINTER(ctypes.c_uint32)]
    return fn


class _PyBuffer(ctypes.Structure):
    # Py_buffer, part of the stable ABI since Python 3.11.
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None
PYBUF_SIMPLE = 0


class BufferAddress:
    """The address of a (possibly read-only) buffer, held until :meth:`release`."""

    def __init__(self, obj: object) -> None:
        self._view = _PyBuffer()
        if _get_buffer(obj, ctypes.byref(self._view), PYBUF_SIMPLE) != 0:
            raise RuntimeError("object does not export a buffer")  # pythonapi raised already
        self.address: int = self._view.buf
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            _release_buffer(ctypes.byref(self._view))
