# The project's verbs. Every target installs what it needs into .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON313 ?= $(shell command -v python3.13 || echo $(HOME)/.pyenv/versions/3.13.0/bin/python3.13)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)

# While `make run` is up it writes the local stack's endpoints here (NAME ?= value), so that
# `make redrive`, `make import` and `make invoke` target it; variables already in the environment win.
ifneq ($(wildcard .local-stack.env),)
include .local-stack.env
export AWS_ENDPOINT_URL AWS_DEFAULT_REGION AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export CONTACTS_QUEUE_URL CONTACTS_DLQ_URL
endif

.PHONY: install browser lint typecheck validate check audit build test test-fast unit integration run invoke bench bench-publish redrive import deploy clean

$(VENV)/.installed: requirements-dev.txt src/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements-dev.txt --editable .
	touch $@

install: $(VENV)/.installed

# Debian's Chromium, which tests/integration/test_docs_page.py drives headless to render the docs page.
# Installed once (root, as CI runs; sudo otherwise); a no-op when it is there.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

lint: install
	ruff check src tests local benchmarks
	ruff format --check src tests local benchmarks

typecheck: install
	mypy

validate: install
	sam validate --lint

# Security checks that run in `make test`: bandit on the code, checkov on the template (each skipped
# check is justified in template.yaml's Metadata).
check: install
	bandit -q -r src local
	checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

# Known vulnerabilities in the bundled dependencies. Needs PyPI's JSON API or OSV, which this
# project's CI network does not reach, so it is not part of `make test`.
audit: install
	pip-audit --strict -r src/requirements.txt

build: install
	sam build --cached --parallel

# Everything CI runs. `sam validate --lint` runs inside the suite (tests/infrastructure).
test: lint typecheck check build browser
	pytest

# The quick loop while developing: no build, no tests marked slow.
test-fast: lint typecheck check browser
	pytest -m "not slow"

unit: install
	pytest tests/unit

integration: install browser
	pytest tests/integration

# Only this target writes the checkout's .local-stack.env: the stacks that tests start keep theirs in
# their own temporary folders. The functions' JSON logs go to .local-stack.log (LOCAL_LOGS=1: inline too).
run: install
	$(PY) -m local.stack --env-file .local-stack.env --log-file .local-stack.log

# make invoke FUNCTION=CreateContactFunction EVENT=events/api_create_user.json
invoke: install
	$(PY) -m local.invoke $(FUNCTION) $(EVENT)

# Saves each run under benchmarks/results/runs/ (untracked): a plain `make bench` leaves git clean.
# ONLY=fleet (or cold_start,warm,...) runs some sections; ARGS=--quick fewer repetitions.
bench: install build
	$(PY) -m benchmarks.run $(if $(ONLY),--only $(ONLY)) $(ARGS)

# Makes a saved run the one the docs quote (benchmarks/results/published.*): the newest, or RUN=<its .json>.
bench-publish: install
	$(PY) -m benchmarks.run --publish $(RUN)

redrive: install
	$(PY) -m intercom_contacts.redrive $(ARGS)

# make import FILE=contacts.csv ARGS="--role lead --dry-run"
# make exits 2 whenever a command fails, so the tool's own exit code (README) is printed.
import: install
	@$(VENV)/bin/intercom-contacts import "$(FILE)" $(ARGS) || { code=$$?; echo "make import: intercom-contacts \
	exited with $$code (make exits 2; run $(VENV)/bin/intercom-contacts import ... for the code itself)" >&2; exit $$code; }

deploy: build
	sam deploy

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
