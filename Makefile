# One place for every command of the kit. `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export REDOCLY_TELEMETRY := off
export REDOCLY_SUPPRESS_UPDATE_NOTICE := true

.PHONY: help serve test check lint lint-contract lint-python lint-imports types bench bench-core bench-million bench-testing bench-console screenshot clean
.DEFAULT_GOAL := help

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

help:  ## this list: each target with what it does (`make` alone shows it too)
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z][a-z-]*:[^#]*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

serve: $(STAMP)  ## set everything up and serve the mock on http://127.0.0.1:8090
	$(VENV)/bin/otp-mock serve $(ARGS)

test: $(STAMP) lint  ## every check and every test
	$(PY) -m pytest $(PYTEST_ARGS)

check: test  ## alias of test: one command that checks everything

lint: lint-contract lint-python lint-imports types  ## every linter: contract, ruff, import layers, mypy

lint-contract: $(STAMP) node_modules/.installed  ## the contract: OpenAPI 3.1 validator and Redocly
	$(VENV)/bin/openapi-spec-validator openapi.yaml mockserver/data/admin-openapi.yaml
	npx --no-install redocly lint openapi.yaml --config redocly.yaml --format=stylish

lint-python: $(STAMP)  ## ruff over the code, the suites, the tests and the benchmark
	$(VENV)/bin/ruff check mockserver contracts tests bench

lint-imports: $(STAMP)  ## the layers: the core never imports the web layer (contracts in pyproject.toml)
	$(VENV)/bin/lint-imports

types: $(STAMP)  ## mypy, strict
	$(VENV)/bin/mypy

bench: $(STAMP)  ## benchmark the served mock against a bare Flask app (needs wrk)
	$(PY) bench/run.py

bench-core: $(STAMP)  ## building a fresh mock, and a lookup by id on Redis with 2,000 tenants (needs redis-server)
	$(PY) bench/core.py

bench-million: $(STAMP)  ## the memory store with 1,000 and 1,000,000 messages (about 2 min, 4 GiB)
	$(PY) bench/million.py

bench-testing: $(STAMP)  ## what a test pays for mockserver.testing: a fresh otp_mock, send + verify, 500 tests
	$(PY) bench/testing.py

bench-console: $(STAMP)  ## the API's req/s with 10 live console tabs and 10 pollers, against none (1 process and 2 workers, the mock on its own CPUs; needs wrk, chromium)
	$(PY) bench/console.py

screenshot: $(STAMP)  ## take docs/console-inbox.png (the README's picture) with the browser test
	KIT_SCREENSHOT=1 $(PY) -m pytest -q tests/test_console_browser.py -k readme_screenshot

clean:  ## remove .venv, node_modules, build output and reports
	rm -rf $(VENV) node_modules build *.egg-info reports
