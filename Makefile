# Thumbs: `make run` serves the site with the embedded AWS; `make test` runs every test.
# Each target creates or reuses .venv and installs, from its lock, only what it needs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
STAGE ?= dev
SHELL := bash
.SHELLFLAGS := -o pipefail -c

.PHONY: run test lint bench stress package deploy update rehearse screenshots lock clean

# Say in one line when a Python is too old, before anything is made with it: $(call
# need_python,PYTHON,WHAT TO DO). Plain %-formatting, so that even an old Python reads it.
need_python = $(1) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
	"Thumbs needs Python 3.11 or newer; $(1) is %d.%d: $(2)" % sys.version_info[:2])'

$(BIN)/python:
	@$(call need_python,$(PYTHON),make $(or $(MAKECMDGOALS),run) PYTHON=python3.11)
	@echo "Creating $(VENV), the project's virtualenv (first run only)"
	$(PYTHON) -m venv $(VENV)

# Install a lock, with pip's hash checking, and say how far it is: one line a package
# (requirements/progress.py reads each form pip names a package in; pip's errors pass whole).
define install
	@$(call need_python,$(BIN)/python,rm -rf $(VENV) then make $(or $(MAKECMDGOALS),run) PYTHON=python3.11)
	@echo "Installing $(2): $$($(BIN)/python requirements/progress.py --count $(1)) packages from $(1) (once; then reused)"
	$(BIN)/python -m pip install --disable-pip-version-check --require-hashes -r $(1) 2>&1 \
		| $(BIN)/python requirements/progress.py $(1)
	touch $@
endef

$(VENV)/.installed-run: requirements/run.txt | $(BIN)/python
	$(call install,$<,what make run needs)

$(VENV)/.installed-test: requirements/test.txt | $(BIN)/python
	$(call install,$<,what make test needs)

$(VENV)/.installed-bench: requirements/bench.txt | $(BIN)/python
	$(call install,$<,what make bench needs)

# The embedded AWS, a distribution of its own (embedded-aws/): installed after a lock, with
# --no-deps, since the lock already holds what it needs, hash-checked (a test checks that),
# and a lock cannot hold a folder. Installed again when its code changes.
EMBEDDED_AWS := embedded-aws/pyproject.toml $(shell find embedded-aws/src -name '*.py' 2>/dev/null)

$(VENV)/.installed-embedded-aws: $(EMBEDDED_AWS) | $(BIN)/python
	@echo "Installing the embedded AWS (embedded-aws/)"
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps ./embedded-aws 2>&1 \
		| $(BIN)/python requirements/progress.py --errors
	touch $@

run: $(VENV)/.installed-run $(VENV)/.installed-embedded-aws
	$(BIN)/flask run --port $(PORT)

# Two workers (or as many as the machine has cores, up to four): each has its own embedded
# AWS and Chromium, so the tests share nothing.
test: $(VENV)/.installed-test $(VENV)/.installed-embedded-aws lint
	$(BIN)/python -m pytest -n auto --maxprocesses 4

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

stress: $(VENV)/.installed-test $(VENV)/.installed-embedded-aws
	$(BIN)/python -m stress

bench: $(VENV)/.installed-bench $(VENV)/.installed-embedded-aws
	$(BIN)/python -m bench

# The browser tests leave their screenshots in build/screenshots/ (make test never writes a
# tracked file); this copies the ones the README and docs show into docs/screenshots/.
SCREENSHOTS := upload chosen status result failed several history shared dark upload-phone \
	result-phone not-yours animation-still uploading-phone interrupted download-all

screenshots: $(VENV)/.installed-test $(VENV)/.installed-embedded-aws
	rm -rf build/screenshots
	$(BIN)/python -m pytest -n 2 -q -m browser
	mkdir -p docs/screenshots
	for name in $(SCREENSHOTS); do cp build/screenshots/$$name.png docs/screenshots/; done

# Regenerate every lock from the lists people edit (requirements.in, requirements/*.in).
lock: $(VENV)/.installed-test
	$(BIN)/python requirements/lock.py

clean:
	rm -rf $(VENV) $(VENV312) .pytest_cache .hypothesis build

# The deploy virtualenv: Zappa's command line, on Lambda's Python 3.12, which also builds
# the package (its .pyc files must be that version's).
PYTHON312 ?= $(or $(lastword $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin/python3.12)),$(shell pyenv which python3.12 2>/dev/null),$(shell command -v python3.12 2>/dev/null),python3.12)
VENV312 := .venv312
PACKAGE := build/thumbs-$(STAGE).zip
PACKAGE_INPUTS := deploy/package.py zappa_settings.json requirements.txt \
	requirements/lambda-arm64.txt requirements/handler.txt $(shell git ls-files app templates static wsgi.py 2>/dev/null)

$(VENV312)/.installed: requirements/deploy.txt
	test -x $(VENV312)/bin/python || $(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
		-r requirements/deploy.txt
	touch $@

# A stage's Lambda package, from an allow-list (deploy/package.py): never what else lies
# here. Each stage has its own: its name is baked into the settings module Zappa's handler reads.
build/thumbs-%.zip: $(VENV312)/.installed $(PACKAGE_INPUTS)
	mkdir -p build
	$(VENV312)/bin/python deploy/package.py $* $@

package: $(PACKAGE)

# Deploy or update the built package (a plain `zappa deploy` would zip this checkout
# instead), then apply what Zappa has no setting for: flask infra up, after each. The
# deploy guide (docs/deploy.md) says which variables the shell must hold first.
deploy update: $(PACKAGE) $(VENV)/.installed-run
	$(VENV312)/bin/zappa $@ $(STAGE) -z $(PACKAGE)
	FLASK_APP=app.cli:operator_app FLASK_SKIP_DOTENV=1 $(BIN)/flask infra up --stage $(STAGE)

# The deploy guide (zappa deploy, status, update, undeploy and the flask infra steps), run
# for real against a fresh embedded AWS, every resource checked: about 30 s, on the package
# above (built only when an input changed).
REHEARSED_PACKAGES := build/thumbs-dev.zip build/thumbs-direct.zip build/thumbs-arm64.zip

rehearse: $(VENV)/.installed-test $(VENV)/.installed-embedded-aws $(REHEARSED_PACKAGES)
	$(BIN)/python -m rehearse
