"""The sensor's C parts: compiling them with the system compiler, once.

Two small C sources sit next to the Python code:

- ``_ringwalk.c``: the ring reader's header walk, a plain shared library
  loaded with ctypes (``_ringwalk.py``);
- ``_fastpack.c``: msgpack of events for the Kafka publisher, a CPython
  extension module (``_kafka_record.py``);
- ``_fastdecode.c``: file and process events decoded from their records,
  a CPython extension module (``_decode.py``).

``make setup`` builds them (``ringside._native.main``).  Each build is
named by the hash of its source, so a stale build is never loaded, and each
part has a Python fallback that gives the same results, more slowly: the
sensor runs without a compiler, and says so.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CFLAGS = ("-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror")


class CPart:
    """One C source of the sensor and its build."""

    def __init__(self, stem: str, python_extension: bool) -> None:
        self.stem = stem
        self.source = HERE / f"{stem}.c"
        self.python_extension = python_extension

    @functools.cached_property
    def path(self) -> Path:
        """Where the build of the current source is (the source is hashed once)."""
        digest = hashlib.sha256(self.source.read_bytes()).hexdigest()[:16]
        return self.source.with_name(f"{self.stem}-{digest}.so")

    def build(self) -> Path:
        """Compile next to the source (idempotent); the path of the build."""
        target = self.path
        if target.exists():
            return target
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("no C compiler (Debian: build-essential)")
        flags = list(CFLAGS)
        if self.python_extension:
            include = sysconfig.get_paths()["include"]
            if not (Path(include) / "Python.h").exists():
                raise RuntimeError(f"no Python.h in {include} (Debian: python3-dev)")
            flags.append(f"-I{include}")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{self.stem}-", suffix=".so")
        os.close(fd)
        try:
            subprocess.run([cc, *flags, "-o", tmp, str(self.source)], check=True,
                           capture_output=True, text=True)
            os.replace(tmp, target)  # atomic: a reader never loads half a file
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"compiling {self.source.name} failed: {exc.stderr.strip()}"
                               ) from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for old in target.parent.glob(f"{self.stem}-*.so"):
            if old != target:
                old.unlink(missing_ok=True)  # builds of earlier sources
        return target

    def load_extension(self) -> ModuleType | None:
        """The extension module, or None when it is not built or does not load."""
        assert self.python_extension
        path = self.path
        if not path.exists():
            return None
        name = f"ringside.{self.stem}"
        loader = importlib.machinery.ExtensionFileLoader(name, str(path))
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        if spec is None:
            return None
        try:
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
        except ImportError as exc:
            log.warning("cannot load %s (%s); using the Python fallback", path.name, exc)
            return None
        return module


RINGWALK = CPart("_ringwalk", python_extension=False)
FASTPACK = CPart("_fastpack", python_extension=True)
FASTDECODE = CPart("_fastdecode", python_extension=True)
PARTS = (RINGWALK, FASTPACK, FASTDECODE)


def main() -> int:
    """Build every part; print what was built, or why not (exit 1)."""
    status = 0
    for part in PARTS:
        try:
            print(part.build())
        except RuntimeError as exc:
            print(f"ringside: {part.source.name} was not built: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
