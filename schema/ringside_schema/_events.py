"""The union of every event model, discriminated by the ``event`` field."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ._common import EventBase
from .file import (
    FileChmod,
    FileChown,
    FileCreate,
    FileDelete,
    FileLink,
    FileModify,
    FileRename,
)
from .process import ProcessExec, ProcessExit, ProcessFork
from .tty import TtyWrite

Event = Annotated[
    ProcessFork | ProcessExec | ProcessExit
    | FileCreate | FileModify | FileDelete | FileRename | FileChmod | FileChown | FileLink
    | TtyWrite,
    Field(discriminator="event"),
]

EVENT_MODELS: dict[str, type[EventBase]] = {
    "process.fork": ProcessFork,
    "process.exec": ProcessExec,
    "process.exit": ProcessExit,
    "file.create": FileCreate,
    "file.modify": FileModify,
    "file.delete": FileDelete,
    "file.rename": FileRename,
    "file.chmod": FileChmod,
    "file.chown": FileChown,
    "file.link": FileLink,
    "tty.write": TtyWrite,
}
