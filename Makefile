# Two entry points for a fresh clone: `make demo` and `make test`. Both create the virtual environment themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False

.PHONY: demo test lint format clean browser java

$(BIN)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@

## demo: the whole job on the sample set, in demo/ (never ./p2c.duckdb): sample -> load -> build -> lineage
## pack -> a local Dataverse emulator (seeded from the landed exports, in the background) -> plan -> upload
## -> upload of that reviewed plan -> results; the emulator is stopped at the end, whatever happens.
DEMO_DIR ?= demo
DEMO_DB := $(DEMO_DIR)/p2c-demo.duckdb
DEMO_PORT ?= 8943
DEMO_ENV := https://127.0.0.1:$(DEMO_PORT)
demo: $(BIN)/.installed
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(BIN)/p2c sample $(DEMO_DIR)/sample
	$(BIN)/p2c load $(DEMO_DIR)/sample/USMF --company USMF --db $(DEMO_DB)
	$(BIN)/p2c load $(DEMO_DIR)/sample/GBSI --company GBSI --db $(DEMO_DB)
	$(BIN)/p2c load $(DEMO_DIR)/sample/multi-company --db $(DEMO_DB)
	$(BIN)/p2c build --db $(DEMO_DB)
	$(BIN)/p2c lineage pack --db $(DEMO_DB) --out $(DEMO_DIR)/audit
	@set -euo pipefail; \
	export P2C_CLIENT_ID=p2c-demo P2C_CLIENT_SECRET="demo-$$RANDOM$$RANDOM" P2C_TENANT_ID=p2c-emulator; \
	export P2C_AUTHORITY=$(DEMO_ENV)/p2c-emulator REQUESTS_CA_BUNDLE=$(DEMO_DIR)/emulator-ca.pem; \
	$(BIN)/p2c emulator --port $(DEMO_PORT) --state $(DEMO_DIR)/emulator.sqlite --seed-from $(DEMO_DB) \
	  --ca-cert $(DEMO_DIR)/emulator-ca.pem --client-id p2c-demo --admin p2c-demo > $(DEMO_DIR)/emulator.log 2>&1 & \
	emulator=$$!; trap 'kill $$emulator 2>/dev/null; wait $$emulator 2>/dev/null || true' EXIT; \
	for i in $$(seq 100); do [ -s $(DEMO_DIR)/emulator-ca.pem ] && grep -q "Dataverse emulator at" $(DEMO_DIR)/emulator.log && break; \
	  kill -0 $$emulator 2>/dev/null || { cat $(DEMO_DIR)/emulator.log; exit 2; }; sleep 0.2; done; \
	$(BIN)/p2c plan --env $(DEMO_ENV) --db $(DEMO_DB) --out $(DEMO_DIR)/plan.json; \
	$(BIN)/p2c upload --env $(DEMO_ENV) --db $(DEMO_DB) --plan $(DEMO_DIR)/plan.json; \
	$(BIN)/p2c results --db $(DEMO_DB)
	@echo "Done. Look at: $(DEMO_DIR)/audit/report.html (lineage audit pack), $(DEMO_DIR)/plan.json (the plan),"
	@echo "  '$(BIN)/p2c results --db $(DEMO_DB)' (upload results), $(DEMO_DIR)/emulator.log (what Dataverse saw)."

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

## java: a Java runtime from Debian's packages, for the Spark target's tests (pyspark starts a JVM)
java:
	@if command -v java >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing a Java runtime (Debian package default-jre-headless) for the Spark tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; \
	else echo "java missing and not root: the Spark target tests will be skipped" >&2; fi

## test: linters, then pytest (unit tests, loader tests on generated files, the dbt chain on a sample set, on
## DuckDB and on a local Spark session, compared value by value)
test: $(BIN)/.installed browser java lint
	$(BIN)/pytest

## clean: what make created (the venv, dbt's target/ and logs/, the demo folder); never a database of yours
clean:
	rm -rf $(VENV) target logs $(DEMO_DIR)
