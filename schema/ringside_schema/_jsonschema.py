"""JSON Schemas of the events, generated from the models and kept in the repository.

A consumer in another language validates ``ringside consume`` output (or a
Kafka message value, decoded from msgpack) against
``jsonschema/<event>.json``.  The files are generated, never edited::

    python -m ringside_schema._jsonschema           (re)write every file
    python -m ringside_schema._jsonschema --check   exit 1 if one is missing, stale or extra

A test runs the check, so a model changed without its schema fails the
tests with this command in the message.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._common import SCHEMA_VERSION
from ._events import EVENT_MODELS

DIRECTORY = Path(__file__).resolve().parent / "jsonschema"
COMMAND = "python -m ringside_schema._jsonschema"


def generate() -> dict[str, str]:
    """File name -> contents, for every event model there is."""
    files = {}
    for name, model in sorted(EVENT_MODELS.items()):
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:ringside:event:{name}:v{SCHEMA_VERSION}",
            "x-ringside-schema-version": SCHEMA_VERSION,
            **model.model_json_schema(mode="validation"),
        }
        files[f"{name}.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return files


def check(directory: Path = DIRECTORY) -> list[str]:
    """What differs between ``directory`` and the models: one line per file."""
    wanted = generate()
    problems = []
    for fname, text in wanted.items():
        path = directory / fname
        if not path.exists():
            problems.append(f"{fname}: missing")
        elif path.read_text() != text:
            problems.append(f"{fname}: stale (the model changed)")
    for path in sorted(directory.glob("*.json")):
        if path.name not in wanted:
            problems.append(f"{path.name}: no such event model any more")
    return problems


def write(directory: Path = DIRECTORY) -> list[str]:
    """Write every schema, delete those of models that are gone; the files changed."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = generate()
    changed = []
    for fname, text in wanted.items():
        path = directory / fname
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(fname)
    for path in directory.glob("*.json"):
        if path.name not in wanted:
            path.unlink()
            changed.append(path.name)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a file is missing, stale or extra")
    parser.add_argument("--directory", type=Path, default=DIRECTORY, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.directory)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print(f"regenerate with: {COMMAND}", file=sys.stderr)
        return 1 if problems else 0
    for fname in write(args.directory):
        print(f"wrote {args.directory / fname}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
