# Ringside: `make run` and `make test` set everything up first (idempotent).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-test setup-bench run test test-unit test-kernel test-kafka lint bench bench-quick \
	kafka-start kafka-stop clean

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

# The Kafka tier starts its own broker (instance "test", 127.0.0.1:19092) and
# stops it after; kafka-start/kafka-stop run one for you on 127.0.0.1:9092.
test-kafka: setup-test
	$(PY) -m pytest tests/kafka

kafka-start:
	@bash deploy/kafka/kafka.sh start

kafka-stop:
	@bash deploy/kafka/kafka.sh stop

lint: setup
	$(VENV)/bin/ruff check sensor schema tests benchmarks
	$(VENV)/bin/mypy

# Benchmarks need root, auditd and bpftrace (setup.sh --bench) and matplotlib for
# the charts (the bench extra).  `bench` runs every benchmark and exits with the
# worst status (1: a target missed, 2: a measurement invalid); `bench-quick` is the
# issue 6 suite in under 5 minutes.
setup-bench:
	@bash deploy/setup.sh --bench
	@$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e ".[dev,bench]" >&2

bench: setup-bench
	@worst=0; for b in bench_ring bench_file_tty bench_suite steady_state bench_kafka; do \
	    $(PY) -m benchmarks.$$b; rc=$$?; [ $$rc -gt $$worst ] && worst=$$rc; \
	done; exit $$worst

bench-quick: setup-bench
	$(PY) -m benchmarks.bench_suite --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
