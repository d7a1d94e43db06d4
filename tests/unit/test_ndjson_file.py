"""NDJSON to a file: each batch is in the file once the sink has it, not at stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ringside._sinks import NdjsonSink, to_json

from tests.kafka.events import exec_event


def test_a_batch_is_in_the_file_before_stop(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b'{"earlier":1}\n')  # appended to, never truncated
    first, second = [exec_event(1)], [exec_event(2), exec_event(3)]

    async def main() -> list[bytes]:
        with open(path, "ab") as stream:  # buffered, as --output and a redirected stdout are
            sink = NdjsonSink(stream)
            await sink.start()
            seen = []
            for batch in (first, second):
                await sink.write(batch)
                seen.append(path.read_bytes())  # what a tail -f would read now
            await sink.stop()
        return seen

    seen = asyncio.run(main())
    assert seen[0] == b'{"earlier":1}\n' + to_json(first[0])
    assert seen[1] == seen[0] + b"".join(map(to_json, second))
