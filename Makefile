# Kyodo — two commands on a fresh machine with Python 3.11 and make:
#   make demo   set up, then run the whole platform with a seeded demo consortium
#   make test   set up, then lint, type-check, check migrations and run every test
#
# Set-up: a virtualenv in .venv, uv (pinned) installed into it, then
# `uv sync --frozen` from the committed uv.lock, and `npm ci` from package-lock.json (axe-core for the
# browser tests). Nothing else is installed by hand.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
BIN := $(VENV)/bin
# Three test processes on two cores: about a fifth of the suite's time is spent waiting
# for processes it starts (workers, web servers, the multi-host test's hosts).
PYTEST_WORKERS ?= 3
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# Byte-compiled modules: every `kyodo` command, web process and worker the tests
# start imports the whole platform, and compiling it from source on each start
# costs several seconds (shells that set PYTHONDONTWRITEBYTECODE would pay it each time).
export UV_COMPILE_BYTECODE := 1
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup demo test test-multi-host lint typecheck migrations-check pytest bench messages clean system-deps

$(UV):
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	@touch $@

## setup: the virtualenv with every dependency from uv.lock, and the browser tests' axe-core from package-lock.json
setup: $(VENV)/.synced system-deps node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

## system-deps: programs from the operating system that tests and sealing use
system-deps:
	@bash deploy/install-system-deps.sh

## demo: run everything (embedded PostgreSQL and Redis, web, worker, beat) on http://127.0.0.1:8000
demo: setup
	$(BIN)/kyodo demo

## test: lint, types, migrations and the whole test suite
test: setup lint typecheck migrations-check pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

migrations-check:
	$(BIN)/kyodo db check

## pytest: every test, the multi-host test included (it mostly waits: leases running out, hosts starting)
pytest:
	KYODO_TEST_MULTI_HOST=1 $(BIN)/pytest -n $(PYTEST_WORKERS) --durations=25

## test-multi-host: the multi-host test alone (network namespaces, HAProxy): 1-3 minutes; skipped with the reason without root
test-multi-host: setup
	KYODO_TEST_MULTI_HOST=1 $(BIN)/pytest tests/deploy/test_multi_host.py -p no:xdist -q

## bench: benchmarks (not part of `make test`); each prints its figures
bench: setup
	$(BIN)/pytest tests/bench -m bench -p no:xdist -s -q
	@for f in $$(grep -l '__main__' tests/bench/bench_*.py); do b=$$(basename $$f .py); echo "== $$b"; $(BIN)/python -m tests.bench.$$b || exit 1; done

## messages: refresh the gettext catalogs after changing user-facing text
messages: setup
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 --no-location --sort-output \
		--ignore-dirs=".venv .kyodo tests" -o core/locale/messages.pot .
	$(BIN)/pybabel update -i core/locale/messages.pot -d core/locale --no-wrap

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
