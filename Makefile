# Thumbs: `make run` serves the site with the embedded AWS; `make test` runs every test.
# Each target creates or reuses .venv and installs what it needs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEV := $(VENV)/.installed-dev
PORT ?= 5000

.PHONY: run test bench stress package clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEV): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(DEV)
	$(BIN)/flask run --port $(PORT)

test: $(DEV)
	$(BIN)/python -m pytest

bench: $(DEV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build
