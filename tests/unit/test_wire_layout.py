"""bpf/events.h and the Python decoders agree on every size, offset and number.

The header is compiled with the host C compiler (x86-64 lays out these
fixed-width types exactly as the BPF target does) into a program that prints
what the compiler decided; the Python side is every ``CStruct`` the decoders
declare.  A field added, moved or resized on one side only fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import ringside._aux  # noqa: F401 - registers the auxiliary record mirrors
import ringside_schema
from ringside_schema import wire

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "bpf" / "events.h"

# C structs in events.h that user space never decodes, and why.
NOT_DECODED = {
    "rs_config": "written by user space through bcc's ctypes view of the compiled map",
}


def _python_structs() -> dict[str, wire.CStruct]:
    # Importing the packages registers every mirror the sensor uses.
    assert ringside_schema.EVENT_MODELS
    return dict(wire.C_STRUCTS)


def _header_structs() -> set[str]:
    return set(re.findall(r"^struct (rs_\w+) \{", HEADER.read_text(), re.MULTILINE))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """name -> value, as the C compiler sees events.h."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler: the layout test needs cc (Debian: build-essential)")
    lines = []
    for name, cs in _python_structs().items():
        if name not in _header_structs():
            continue
        lines.append(f'printf("sizeof {name} %zu\\n", sizeof(struct {name}));')
        for field, _fmt in cs.fields:
            lines.append(
                f'printf("offsetof {name}.{field} %zu\\n", offsetof(struct {name}, {field}));'
            )
            lines.append(
                f'printf("sizeof {name}.{field} %zu\\n", sizeof(((struct {name} *)0)->{field}));'
            )
    for cname in _constants():
        lines.append(f'printf("const {cname} %lld\\n", (long long)({cname}));')
    src = "\n".join([
        "#include <stddef.h>",
        "#include <stdio.h>",
        f'#include "{HEADER}"',
        "int main(void) {",
        *lines,
        "return 0; }",
    ])
    tmp = tmp_path_factory.mktemp("layout")
    (tmp / "layout.c").write_text(src)
    subprocess.run([cc, "-Wall", "-Werror", "-o", str(tmp / "layout"), str(tmp / "layout.c")],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(tmp / "layout")], check=True, capture_output=True, text=True)
    values = {}
    for line in out.stdout.splitlines():
        kind, key, value = line.split()
        values[f"{kind} {key}"] = int(value)
    return values


def _constants() -> dict[str, int]:
    """C constant name -> the Python value that must equal it."""
    out: dict[str, int] = {"RS_WIRE_VERSION": wire.WIRE_VERSION}
    for pyname in dir(wire):
        value = getattr(wire, pyname)
        if not isinstance(value, int) or pyname in ("WIRE_VERSION", "UNSET_ID"):
            continue
        if pyname.startswith("EVENT_"):
            out[f"RS_{pyname}"] = value
        elif pyname.startswith("VL_F_"):
            out[f"RS_{pyname}"] = value
        elif pyname.startswith("VL_") and pyname != "VL_TYPE_MAX":
            out[f"RS_{pyname}"] = value
        elif pyname.startswith(("PROC_F_", "HDR_F_")):
            out[f"RS_{pyname}"] = value
    from ringside import _bpf

    for pyname in ("CFG_FILE_FAILED", "CFG_EXCLUDE_COMM", "CFG_EXCLUDE_CGROUP",
                   "CFG_EXCLUDE_PREFIX"):
        out[f"RS_{pyname.replace('CFG_', 'CFG_F_')}"] = getattr(_bpf, pyname)
    for pyname in ("WAKEUP_WHEN_EMPTY", "WAKEUP_NEVER"):
        out[f"RS_{pyname}"] = getattr(_bpf, pyname)
    for i, reason in enumerate(wire.DROP_REASONS):
        out[f"RS_DROP_{reason.upper()}"] = i
    out["RS_DROP_REASON_MAX"] = len(wire.DROP_REASONS)
    return out


def test_every_header_struct_has_a_python_mirror() -> None:
    mirrored = set(_python_structs())
    missing = _header_structs() - mirrored - set(NOT_DECODED)
    assert not missing, f"structs in events.h with no decoder mirror: {sorted(missing)}"
    stale = mirrored - _header_structs()
    assert not stale, f"mirrors of structs that events.h no longer has: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(n for n in wire.C_STRUCTS if n not in NOT_DECODED))
def test_struct_layout_matches(name: str, compiled: dict[str, int]) -> None:
    cs = _python_structs()[name]
    assert compiled[f"sizeof {name}"] == cs.size, f"sizeof(struct {name})"
    for field, fmt in cs.fields:
        assert compiled[f"offsetof {name}.{field}"] == cs.offsets[field], f"{name}.{field}"
        py_size = wire.struct.calcsize("<" + fmt)
        assert compiled[f"sizeof {name}.{field}"] == py_size, f"size of {name}.{field}"


def test_constants_match(compiled: dict[str, int]) -> None:
    wrong = {name: (compiled[f"const {name}"], value)
             for name, value in _constants().items() if compiled[f"const {name}"] != value}
    assert not wrong, f"C value != Python value: {wrong}"


def test_every_event_type_in_the_header_is_known_to_python() -> None:
    in_header = set(re.findall(r"^\s*(RS_EVENT_\w+) = \d+", HEADER.read_text(), re.MULTILINE))
    known = set(_constants())
    assert in_header - known <= {"RS_EVENT_NONE"}, sorted(in_header - known)
