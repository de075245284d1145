# Two commands for a new machine: `make run` and `make test`. Everything else hangs off them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench package deploy fuzz load clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m chalicelib.devtools.stack

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	AWS_DEFAULT_REGION=eu-west-3 $(VENV)/bin/pytest -n 2 -p no:cacheprovider

bench: $(STAMP)
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .local .mypy_cache .ruff_cache .pytest_cache
