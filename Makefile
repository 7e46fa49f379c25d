# Tiendo — every set-up step lives here so a fresh clone needs only `make demo` / `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint test-fast test-system test-cluster bench soak up down status schemas openapi clean help

help:
	@echo "make demo   - whole pipeline on local embedded infrastructure, with results"
	@echo "make test   - the whole test suite against real Kafka, PostgreSQL and SMTP"
	@echo "make test-system - only the whole-pipeline fault suite (tests/system)"
	@echo "make test-cluster - the fault suite on a local 3-node Kafka cluster (a few minutes)"
	@echo "make test-fast   - only the pure unit tests (seconds)"
	@echo "make lint   - ruff (lint, format check), mypy, import-linter; make test runs it first"
	@echo "make bench  - benchmarks (writes docs/benchmarks.md)"
	@echo "make soak   - the pipeline for 30 minutes at half its sustainable rate (writes docs/soak.md; MINUTES=60)"
	@echo "make up | status | down - the local stack in the background"

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "Java 17+ is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is required (apt-get install maven)"; exit 1; }
	@echo "==> creating the Python environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP)

demo: $(STAMP)
	@$(BIN)/python -m shared.demo

lint: $(STAMP)
	@echo "==> lint: ruff check, ruff format --check, mypy, import contracts"
	@$(BIN)/ruff check --quiet .
	@$(BIN)/ruff format --check --quiet .
	@$(BIN)/mypy
	@$(BIN)/lint-imports

# Two workers: the suite's Kafka/PostgreSQL/SMTP fixtures start once per worker. `--dist load` (per
# test): `loadfile` would run one of each schemathesis test's operations only (they share a node id).
TEST_WORKERS ?= 2

test: $(STAMP) lint
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist load

test-system: $(STAMP)
	@$(BIN)/python -m pytest tests/system

test-cluster: $(STAMP)
	@$(BIN)/python -m pytest -m cluster tests/system/test_cluster_faults.py

test-fast: $(STAMP)
	@$(BIN)/python -m pytest tests/unit tests/intake/unit tests/aggregator/unit tests/notifier/unit -q

bench: $(STAMP)
	@$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	@$(BIN)/python -m bench.run_all

MINUTES ?= 30
soak: $(STAMP)
	@$(BIN)/python -m pip install --quiet -e ".[test,soak]"
	@$(BIN)/python -m bench.soak --minutes $(MINUTES)

up: $(STAMP)
	@$(BIN)/tiendo stack up

status: $(STAMP)
	@$(BIN)/tiendo stack status

down: $(STAMP)
	@$(BIN)/tiendo stack down

schemas: $(STAMP)
	@$(BIN)/python -m shared.events.schemas

clean: down
	rm -rf .tiendo
