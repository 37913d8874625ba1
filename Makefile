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

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m spec check
	$(PY) -m reports spec-reference $(DEMO_DIR)

serve: $(STAMP)
	$(VENV)/bin/ybx-mock serve

spec-check: $(STAMP)
	$(PY) -m spec check

openapi: $(STAMP)
	$(PY) -m spec openapi

xsd: $(STAMP)
	$(PY) -m spec xsd build/xsd

clean:
	rm -rf $(VENV) build $(DEMO_DIR) .pytest_cache *.egg-info
