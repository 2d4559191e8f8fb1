# shuangtan — the developer commands. Everything runs inside .venv, created here on first use.
#   make run    install, create/migrate the SQLite database, load the demo park, serve on :8000
#   make test   install, lint (ruff, mypy, import-linter) and run the whole test suite
#   make bench  throughput and peak memory of the calculation paths, against a baseline
#   make lint   ruff, ruff format --check, mypy, import-linter
#   make lock   refresh uv.lock after editing dependency ranges in pyproject.toml

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
UV := $(VENV)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy
# Precompile bytecode at install: this environment sets PYTHONDONTWRITEBYTECODE, so without it
# every process would compile the libraries it imports again (seconds per CLI call).
export UV_COMPILE_BYTECODE := 1
# Use the system CA bundle (the one pip uses here) so uv works behind a re-signing proxy too.
export SSL_CERT_FILE ?= /etc/ssl/certs/ca-certificates.crt

.PHONY: run test lint bench lock clean docs

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

run: $(VENV)/.synced
	$(VENV)/bin/shuangtan db upgrade
	$(VENV)/bin/shuangtan demo load --if-empty
	$(VENV)/bin/shuangtan serve --host 127.0.0.1 --port 8000

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.synced
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

docs: $(VENV)/.synced
	$(VENV)/bin/python tools/gen_factor_table.py

lock: | $(UV)
	$(UV) lock

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
