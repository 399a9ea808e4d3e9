# Two entry points for a fresh clone: `make demo` and `make test`. Both create the virtual environment themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= p2c.duckdb
SAMPLE_DIR ?= data/sample
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export P2C_DB := $(DB)

.PHONY: demo test lint format clean browser

$(BIN)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## demo: sample export set -> land in DuckDB -> dbt build (-> lineage audit pack)
demo: $(BIN)/.installed
	rm -rf $(SAMPLE_DIR)
	$(BIN)/p2c sample $(SAMPLE_DIR)
	$(BIN)/p2c load $(SAMPLE_DIR)/USMF --company USMF
	$(BIN)/p2c load $(SAMPLE_DIR)/GBSI --company GBSI
	$(BIN)/p2c load $(SAMPLE_DIR)/multi-company
	$(BIN)/p2c build
	$(BIN)/p2c lineage pack --out audit
	@echo "Audit pack: audit/report.html"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint models data-tests macros
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## browser: headless Chromium from Debian's packages, for the audit report's browser test
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium (Debian package) for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium missing and not root: the browser test will be skipped" >&2; fi

## test: linters, then pytest (unit tests, loader tests on generated files, the dbt chain on a sample set)
test: $(BIN)/.installed browser lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) target logs data $(DB) $(DB).wal
