# Piazza. `make help` lists the targets.
.DEFAULT_GOAL := help
.PHONY: help install run test test-slow lint format bench bench-stress docs

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per set of extras: `make run` installs the runtime only, the test targets add the test tools.
RUN_INSTALLED := $(VENV)/.installed-run
TEST_INSTALLED := $(VENV)/.installed-test
DOCS_INSTALLED := $(VENV)/.installed-docs

# $(call venv_install,EXTRAS): create .venv if needed, then install Piazza editable with EXTRAS.
define venv_install
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Piazza needs Python 3.11 or newer"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.$(1)'
endef

$(RUN_INSTALLED): pyproject.toml
	$(call venv_install,)
	touch $@

# The test extras include the runtime, so this also satisfies `make run`.
$(TEST_INSTALLED): pyproject.toml
	$(call venv_install,[test])
	touch $@ $(RUN_INSTALLED)

$(DOCS_INSTALLED): pyproject.toml
	$(call venv_install,[docs])
	touch $@

install: $(TEST_INSTALLED) ## Create .venv and install Piazza with its test tools (what CI runs)

run: $(RUN_INSTALLED) ## Serve http://127.0.0.1:13120 with SQLite in ./data (migrations applied first)
	$(BIN)/piazza serve

test: $(TEST_INSTALLED) ## Run the test suite; T=tests/oauth runs a part
	$(BIN)/pytest $(T)

test-slow: $(TEST_INSTALLED) ## Run the slow suites (crash, two nodes, fuzzing)
	$(BIN)/pytest -m slow $(T) || [ $$? -eq 5 ]  # 5: no slow test selected

BENCH_ARGS ?=
bench: $(RUN_INSTALLED) ## Load benchmarks with wrk (not part of test); BENCH_ARGS="--events 1000000 --json out.json"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-stress: $(RUN_INSTALLED) ## Attacks of issue 15 against piazza serve, with a /api/ping probe; BENCH_ARGS="--duration 20"
	$(BIN)/python bench/stress.py $(BENCH_ARGS)

lint: $(TEST_INSTALLED) ## ruff check, ruff format --check and mypy --strict on src/ ([tool.mypy])
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy

format: $(TEST_INSTALLED) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests $(wildcard bench)
	$(BIN)/ruff format src tests $(wildcard bench)

docs: $(DOCS_INSTALLED) ## Build the documentation site (docs/, mkdocs.yml) into site/
	$(BIN)/mkdocs build --strict

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
