"""The JSON Schemas in schema/ringside_schema/jsonschema/ are those the models make now."""

from __future__ import annotations

import json
from pathlib import Path

from ringside_schema import EVENT_MODELS, SCHEMA_VERSION
from ringside_schema._jsonschema import COMMAND, DIRECTORY, check, generate, main, write


def test_committed_schemas_are_current() -> None:
    problems = check()
    assert not problems, (
        "the JSON Schemas do not match the event models:\n  " + "\n  ".join(problems)
        + f"\nregenerate them with: {COMMAND}  (and commit {DIRECTORY})")


def test_one_schema_per_event_model_with_its_fields() -> None:
    files = generate()
    assert sorted(files) == sorted(f"{name}.json" for name in EVENT_MODELS)
    for name, model in EVENT_MODELS.items():
        schema = json.loads(files[f"{name}.json"])
        assert schema["x-ringside-schema-version"] == SCHEMA_VERSION
        assert schema["$id"] == f"urn:ringside:event:{name}:v{SCHEMA_VERSION}"
        assert set(schema["properties"]) == set(model.model_fields)
        assert schema["properties"]["event"]["const"] == name
        assert set(schema["required"]) <= set(model.model_fields)


def test_the_check_finds_missing_stale_and_extra_files(tmp_path: Path) -> None:
    assert write(tmp_path)  # every file is new there
    assert check(tmp_path) == [] and write(tmp_path) == []
    first = sorted(generate())[0]
    (tmp_path / first).write_text("{}\n")
    (tmp_path / sorted(generate())[1]).unlink()
    (tmp_path / "gone.event.json").write_text("{}\n")
    problems = check(tmp_path)
    assert len(problems) == 3
    assert f"{first}: stale (the model changed)" in problems
    assert "gone.event.json: no such event model any more" in problems
    assert main(["--check", "--directory", str(tmp_path)]) == 1
    assert main(["--directory", str(tmp_path)]) == 0
    assert main(["--check", "--directory", str(tmp_path)]) == 0
    assert not (tmp_path / "gone.event.json").exists()
