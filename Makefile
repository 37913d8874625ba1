# Two entry points for a newcomer: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-out

.PHONY: install test demo serve spec-check openapi xsd clean bench

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# tests in parallel, one process per core (TEST_WORKERS=0: in this process); a module (or a test class) stays in one process
TEST_WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope

# a free port unless given: a fixed one may belong to another program, whose answers the suite would judge
ifndef DEMO_PORT
DEMO_PORT := $(shell $(PYTHON) -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endif

# Start the mock (scenic supplier at the base URL, theater supplier under /theater/) on throwaway
# databases, run the conformance suite against each through its admin driver, stop the mock, print
# the path of the index linking both reports. The spec reference goes beside them.
DEMO_CREDS = --user demo-ota --password demo-pass --key 3f2504e0-4f89-11d3-9a0c-0305e82c3301 --pay-password 123456 \
  --other-user other-ota --other-password other-pass --other-key 6ba7b810-9dad-11d1-80b4-00c04fd430c8
demo: $(STAMP)
	@$(PY) -m spec check
	@$(PY) -m reports spec-reference $(DEMO_DIR)/spec >/dev/null
	@set -e; \
	$(VENV)/bin/ybx-mock serve --port $(DEMO_PORT) --db :memory: --admin-token demo-admin >$(DEMO_DIR)/mock.log 2>&1 & \
	pid=$$!; trap 'kill $$pid 2>/dev/null' EXIT; \
	$(VENV)/bin/ybx-mock wait --url http://127.0.0.1:$(DEMO_PORT) --admin-token demo-admin; \
	kill -0 $$pid 2>/dev/null || { echo "the mock did not start:"; cat $(DEMO_DIR)/mock.log; exit 1; }; \
	status=0; for supplier in scenic theater; do \
	  base=http://127.0.0.1:$(DEMO_PORT)$$([ $$supplier = theater ] && echo /theater || true); \
	  echo "== $$supplier supplier at $$base"; \
	  $(VENV)/bin/ybx-conform run --target $$base $(DEMO_CREDS) \
	    --driver admin --admin-url $$base/_admin --admin-token demo-admin \
	    --report $(DEMO_DIR)/$$supplier --junit $(DEMO_DIR)/$$supplier/junit.xml || status=$$?; \
	done; \
	$(VENV)/bin/ybx-conform index $(DEMO_DIR) $(DEMO_DIR)/scenic $(DEMO_DIR)/theater >/dev/null; \
	echo "HTML report: $(abspath $(DEMO_DIR))/index.html (scenic/ and theater/ beside it)"; exit $$status

serve: $(STAMP)
	$(VENV)/bin/ybx-mock serve

spec-check: $(STAMP)
	$(PY) -m spec check

openapi: $(STAMP)
	$(PY) -m spec openapi

xsd: $(STAMP)
	$(PY) -m spec xsd build/xsd

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@touch $(BENCH_STAMP)

# Every measurement of issue 7 -> bench/RESULTS.md and the README table (about 15 min; BENCH_QUICK=1: 2 min).
# wrk comes from Debian when missing (as root); granian goes to bench/.cache/altsite, used only by the
# server variant it is, never by the project.
bench: $(BENCH_STAMP)
	@command -v wrk >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || apt-get install -y -qq wrk >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; } || true
	@command -v wrk >/dev/null 2>&1 || echo "bench: wrk is not installed; bench/load.py's asyncio client is used"
	@[ -n "$(BENCH_QUICK)" ] || [ -d bench/.cache/altsite/granian ] || $(PY) -m pip install --quiet \
	  --target bench/.cache/altsite granian || echo "bench: the granian variant is skipped (not installable)"
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build $(DEMO_DIR) .pytest_cache *.egg-info
