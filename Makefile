# localroute — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when the project's dependencies change; llama-cpp-python compiles
# for minutes the first time and comes from pip's wheel cache afterwards.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: help venv test unit e2e lint typecheck format demo docs bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP) ## create .venv and install everything (reused when present)

test: venv lint typecheck ## the whole suite: lint, types, unit, end-to-end, real model
	$(BIN)/python -m pytest -ra -q

unit: venv ## unit tests only (fast)
	$(BIN)/python -m pytest -q tests/unit

e2e: venv ## end-to-end tests over a real LSP session
	$(BIN)/python -m pytest -q tests/e2e

lint: venv ## ruff lint and format check
	$(BIN)/ruff check server tests bench scripts
	$(BIN)/ruff format --check server tests bench scripts

typecheck: venv ## mypy --strict on server/
	$(BIN)/mypy

format: venv ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix server tests bench scripts
	$(BIN)/ruff format server tests bench scripts

demo: venv ## real review and explain through the language server with the embedded local model
	$(BIN)/python scripts/demo.py

docs: venv ## regenerate docs/configuration.md from the pydantic schema
	$(BIN)/python scripts/gen_config_docs.py > docs/configuration.md

bench: venv ## server overhead benchmarks (prints a table)
	$(BIN)/python bench/latency.py

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
