"""``profile_sensor --replay``: recorded ring batches, fed to the sensor's own pipeline.

The tool's figures are only worth something if what it replays is what the
sensor would have decoded: the storm's records, all of them turned into
events and written out.
"""

from __future__ import annotations

import json
from pathlib import Path

from ringside_schema import wire

from benchmarks.profile_sensor import capture, replay


def test_replay_decodes_and_writes_every_recorded_event(tmp_path: Path) -> None:
    batches = capture("exec", 0.5)
    # Auxiliary records (a chdir anywhere on the host) feed the process table and
    # are not events; every other record must come out as one.
    records = sum(
        wire.new_header(wire.HEADER.unpack_from(b.data, off)).type < wire.EVENT_AUX_EXEC_ARGS
        for b in batches for off in b.offsets)
    assert records > 0, "the exec storm left nothing in the ring"

    out = tmp_path / "events.ndjson"
    figures = replay(batches, out, cold=True, reps=1)

    lines = out.read_bytes().splitlines()
    assert figures["events"] == len(lines) > 0
    assert figures["events"] == records, figures  # nothing lost between the ring and the file
    for stage in ("decode", "encode", "write"):
        assert figures[stage] > 0, figures
    execs = [e for e in map(json.loads, lines)
             if e["event"] == "process.exec" and e["process"]["args"] == ["true"]]
    assert execs, "the storm's execs of /bin/true are missing from the replay's output"
