"""The union of every event model, discriminated by the ``event`` field."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .process import ProcessExec, ProcessExit, ProcessFork

Event = Annotated[
    ProcessFork | ProcessExec | ProcessExit,
    Field(discriminator="event"),
]

EVENT_MODELS = {
    "process.fork": ProcessFork,
    "process.exec": ProcessExec,
    "process.exit": ProcessExit,
}
