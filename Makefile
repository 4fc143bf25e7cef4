# Waypost developer commands. `make run` and `make test` set everything up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest conformance bench bench-tools bench-peers lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv with the locked dependencies

run: install ## start the whole gateway on the embedded default, with a demo team, route and key
	$(BIN)/waypost up --demo

test: install lint typecheck pytest ## ruff, mypy and the whole test suite

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

conformance: install ## run the conformance tests and regenerate docs/conformance.md
	$(BIN)/python scripts/conformance.py

BENCH_ARGS ?=

bench-tools:
	command -v wrk >/dev/null && command -v nginx >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk nginx-light)

bench: install bench-tools ## benchmark harness (peers too when `make bench-peers` installed them); BENCH_ARGS="--seconds 3"
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-peers: install bench-tools ## install MLflow AI Gateway, Portkey and LiteLLM into bench/.peers/, then run the bench
	$(BIN)/python -m bench.peers install
	$(BIN)/python -m bench $(BENCH_ARGS)

lock: ## re-pin requirements.lock from pyproject.toml
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .waypost .mypy_cache .ruff_cache .pytest_cache
