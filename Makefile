# localroute — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when the project's dependencies change; llama-cpp-python compiles
# for minutes the first time and comes from pip's wheel cache afterwards.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: help venv install agent-clis emacs-deps eval test unit e2e lint typecheck format demo docs bench clean vsix vscode-deps vscode-e2e

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP) ## create .venv and install everything (reused when present)

install: ## install the `localroute` command for your editor: its own venv, linked into ~/.local/bin (EXTRAS=local adds the embedded model)
	PYTHON=$(PYTHON) bash scripts/install.sh

test: venv lint typecheck vsix vscode-deps agent-clis emacs-deps ## the whole suite: lint, types, unit, end-to-end, real model, VS Code
	$(BIN)/python -m pytest -ra -q

unit: venv ## unit tests only (fast)
	$(BIN)/python -m pytest -q tests/unit

e2e: venv ## end-to-end tests over a real LSP session
	$(BIN)/python -m pytest -q tests/e2e

vsix: venv ## VS Code extension: the server's wheel, type-check, unit tests, then client-vscode/localroute-<version>.vsix (needs npm; Node 22+, else the cached Node 24)
	bash client-vscode/build-vsix.sh $(BIN)/python

vscode-deps: ## Node 24, code-server, chromium for the VS Code e2e (cached in ~/.cache/localroute-e2e)
	bash scripts/vscode-e2e-setup.sh || echo "vscode-deps: could not install; tests/vscode will retry, then skip"

emacs-deps: ## Emacs and Eglot for tests/e2e/test_eglot.py (Debian: emacs-nox, elpa-eglot)
	bash scripts/emacs-e2e-setup.sh || echo "emacs-deps: could not install; tests/e2e/test_eglot.py will retry, then skip"

agent-clis: ## opencode, Gemini CLI, Copilot CLI for tests/e2e/test_agent_clis.py (cached in ~/.cache/localroute-agent-clis)
	bash scripts/agent-clis-setup.sh || echo "agent-clis: could not install; tests/e2e/test_agent_clis.py will retry, then skip"

vscode-e2e: venv vsix vscode-deps ## the VS Code end-to-end test alone (code-server in headless chromium)
	$(BIN)/python -m pytest -q tests/vscode

lint: venv ## ruff lint and format check, and the import layers (import-linter)
	$(BIN)/ruff check server tests bench scripts
	$(BIN)/ruff format --check server tests bench scripts
	$(BIN)/lint-imports --no-cache

typecheck: venv ## mypy --strict on server/
	$(BIN)/mypy

format: venv ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix server tests bench scripts
	$(BIN)/ruff format server tests bench scripts

demo: venv ## real review and explain through the language server with the embedded local model
	$(BIN)/python scripts/demo.py

docs: venv ## regenerate docs/configuration.md, the editor docs' command lists and client-vscode's contract.ts
	$(BIN)/python scripts/gen_config_docs.py > docs/configuration.md
	$(BIN)/python scripts/gen_command_docs.py
	$(BIN)/python scripts/gen_ts_contract.py

bench: venv ## speed goals P1 P2 P5 P6 against baselines measured in the same run (prints one table; ARGS=--quick)
	$(BIN)/python bench/run.py $(ARGS)

eval: venv ## localroute eval on the embedded model, whole corpus (which local model is good enough)
	$(BIN)/python -m localroute eval --embedded

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
