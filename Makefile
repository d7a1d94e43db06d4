# Ringside: `make run` and `make test` set everything up first (idempotent).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-test run test test-unit test-kernel lint bench bench-quick clean

setup:
	@bash deploy/setup.sh

setup-test:
	@bash deploy/setup.sh --test

run: setup
	@$(VENV)/bin/ringside run

test: setup-test
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest tests/unit

lint: setup
	$(VENV)/bin/ruff check sensor schema tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
