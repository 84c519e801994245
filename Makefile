# Consentry developer commands.
#
#   make run     serve the demo over HTTPS on https://localhost:8443 (ARGS="--port 9443" to add flags)
#   make test    lint (ruff, mypy, import-linter), then the test suite (PYTEST_ARGS to override "-n 2")
#   make lint    lint only
#   make bench   the benchmarks (bench/run.sh)
#
# The virtual environment is .venv; pip runs again only when pyproject.toml changes (stamp files).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?= -n 2
ARGS ?=

.PHONY: run test lint bench chromium node-deps clean-venv

run: $(STAMP)
	$(BIN)/consentry serve --demo $(ARGS)

test: lint chromium node-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# @azure/msal-node for the Node client tests, from the lockfile.
node-deps:
	@if command -v npm >/dev/null && [ ! -d tests/clients/node/node_modules ]; then \
		npm ci --prefix tests/clients/node --no-audit --no-fund; fi

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(TEST_STAMP)
	@if [ -f bench/run.sh ]; then bash bench/run.sh; \
	else echo "make bench: bench/run.sh is missing" >&2; exit 1; fi

# Debian's Chromium for the Playwright tests: installed when missing and we are root. With
# CONSENTRY_REQUIRE_BROWSER=1 (as .ci/run sets) a missing browser stops the run here.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing chromium and chromium-driver with apt-get"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver \
		|| { DEBIAN_FRONTEND=noninteractive apt-get update \
		     && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; } \
		|| echo "make: could not install chromium" >&2; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ -n "$$CONSENTRY_REQUIRE_BROWSER" ] && [ "$$CONSENTRY_REQUIRE_BROWSER" != 0 ]; then \
			echo "make: /usr/bin/chromium is missing and CONSENTRY_REQUIRE_BROWSER is set" >&2; exit 1; \
		fi; \
		echo "make: /usr/bin/chromium is missing; the browser tests will be skipped" >&2; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $@ $(STAMP)

clean-venv:
	rm -rf $(VENV)
