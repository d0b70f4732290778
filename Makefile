# Piazza. `make help` lists the targets.
.DEFAULT_GOAL := help
.PHONY: help install run test test-slow lint format bench bench-stress

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Piazza needs Python 3.11 or newer"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(INSTALLED) ## Create .venv and install Piazza with its test tools

run: $(INSTALLED) ## Serve http://127.0.0.1:13120 with SQLite in ./data (migrations applied first)
	$(BIN)/piazza serve

test: $(INSTALLED) ## Run the test suite; T=tests/oauth runs a part
	$(BIN)/pytest $(T)

test-slow: $(INSTALLED) ## Run the slow suites (crash, two nodes, fuzzing)
	$(BIN)/pytest -m slow $(T) || [ $$? -eq 5 ]  # 5: no slow test selected

BENCH_ARGS ?=
bench: $(INSTALLED) ## Load benchmarks with wrk (not part of test); BENCH_ARGS="--events 1000000 --json out.json"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-stress: $(INSTALLED) ## Attacks of issue 15 against piazza serve, with a /api/ping probe; BENCH_ARGS="--duration 20"
	$(BIN)/python bench/stress.py $(BENCH_ARGS)

lint: $(INSTALLED) ## ruff check and ruff format --check
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

format: $(INSTALLED) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests $(wildcard bench)
	$(BIN)/ruff format src tests $(wildcard bench)

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
