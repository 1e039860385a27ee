# Thumbs: `make run` serves the site with the embedded AWS; `make test` runs every test.
# Each target creates or reuses .venv and installs what it needs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEV := $(VENV)/.installed-dev
PORT ?= 5000

.PHONY: run test bench stress package clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEV): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(DEV)
	$(BIN)/flask run --port $(PORT)

# Two workers (or as many as the machine has cores, up to four): each has its own embedded
# AWS and Chromium, so the tests share nothing.
test: $(DEV)
	$(BIN)/python -m pytest -n auto --maxprocesses 4

# The browser tests leave their screenshots in build/screenshots/; the README shows these.
SCREENSHOTS := upload chosen status result failed several history shared dark upload-phone \
	result-phone not-yours

screenshots: $(DEV)
	rm -rf build/screenshots
	$(BIN)/python -m pytest -n 2 -q -m browser
	mkdir -p docs/screenshots
	for name in $(SCREENSHOTS); do cp build/screenshots/$$name.png docs/screenshots/; done

stress: $(DEV)
	$(BIN)/python -m stress

bench: $(DEV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build

# The Lambda package: `zappa package dev` from a Python 3.12 virtualenv (Lambda's python3.12
# runtime must match it), holding only requirements.txt. Rebuilt when an input changes.
PYTHON312 ?= $(or $(lastword $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin/python3.12)),$(shell pyenv which python3.12 2>/dev/null),$(shell command -v python3.12 2>/dev/null),python3.12)
VENV312 := .venv312
PACKAGE := build/thumbs-dev.zip
PACKAGE_INPUTS := Makefile wsgi.py zappa_settings.json requirements.txt \
	$(shell find app templates static -type f -not -name '*.pyc' 2>/dev/null)

$(VENV312)/.installed: requirements.txt
	test -x $(VENV312)/bin/python || $(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

# Lambda unpacks files with the zip's dates, so timestamped .pyc files would be stale there and
# every cold start would compile; hash-checked ones stay valid.
$(PACKAGE): $(VENV312)/.installed $(PACKAGE_INPUTS)
	mkdir -p build
	$(VENV312)/bin/python -m compileall -q -f -j 0 --invalidation-mode checked-hash \
		$(VENV312)/lib/python3.12/site-packages app wsgi.py
	# Zappa copies its handler.py to the package's root, where Lambda imports it first.
	$(VENV312)/bin/python -c "import importlib.util as u, py_compile as c; c.compile(\
		u.find_spec('zappa.handler').origin, cfile='__pycache__/handler.cpython-312.pyc', \
		invalidation_mode=c.PycInvalidationMode.CHECKED_HASH, doraise=True)"
	VIRTUAL_ENV=$(abspath $(VENV312)) PATH=$(abspath $(VENV312))/bin:$$PATH \
		$(VENV312)/bin/zappa package dev -o $(PACKAGE).partial
	mv $(PACKAGE).partial $@

package: $(PACKAGE)
