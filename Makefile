# `make up` runs the hub on the embedded default; `make test` runs the suite. Both create and
# reuse .venv/ at the repository root.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CONFIG ?= $(if $(wildcard accolade.yaml),accolade.yaml,examples/accolade.yaml)

.PHONY: up test venv lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

up: $(STAMP)
	exec $(VENV)/bin/accolade up --config $(CONFIG)

# Two processes, each taking whole test files (`--dist loadfile`: a file's fixtures stay in one
# process); each starts its own Temporal dev server. PYTEST_ARGS="-n 0" runs in one process.
test: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python bench/throughput.py $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .accolade .pytest_cache
