# One entry point for operators and CI. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Let Python cache the bytecode of the project's own code (the stand-in, the modules the
# controller loads, the tests): where the environment sets PYTHONDONTWRITEBYTECODE, every
# stand-in start and every worker recompiled them, about 15% of a module test's CPU time.
unexport PYTHONDONTWRITEBYTECODE
STAMP := $(VENV)/.installed

# Tests use real MongoDB binaries when MONGODB_BIN_DIR names a directory holding
# mongod and mongos; otherwise they use the stand-in server under tests/standin.
STANDIN_BIN_DIR := $(CURDIR)/tests/standin/bin
TEST_BIN_DIR := $(or $(MONGODB_BIN_DIR),$(STANDIN_BIN_DIR))
# The same for the Database Tools (mongodump, mongorestore): MONGODB_TOOLS_BIN_DIR or the stand-in's.
TEST_TOOLS_BIN_DIR := $(or $(MONGODB_TOOLS_BIN_DIR),$(STANDIN_BIN_DIR))

.PHONY: help setup sandbox sandbox-standin sandbox-stop test lint syntax unit integration molecule bench clean lock

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

setup: $(STAMP) ## Create .venv and install the pinned tools and collections.

sandbox: setup ## Set up, then run playbooks/site.yml against the sandbox inventory.
	ansible-playbook playbooks/site.yml $(ARGS)

sandbox-standin: setup ## DEMONSTRATION ONLY: run the sandbox against the mongod stand-in (not MongoDB).
	@echo ">>> Running the sandbox against the mongod STAND-IN from tests/standin: test equipment, not MongoDB."
	MONGODB_BIN_DIR=$(STANDIN_BIN_DIR) MONGODB_TOOLS_BIN_DIR=$(STANDIN_BIN_DIR) ansible-playbook playbooks/site.yml $(ARGS)

sandbox-stop: setup ## Stop every sandbox process (data is kept).
	ansible-playbook playbooks/sandbox-stop.yml $(ARGS)

test: setup ## The whole test suite (what .ci/run runs): the checks side by side, then the integration tests (molecule among them).
	$(MAKE) --no-print-directory -j3 --output-sync=target lint syntax unit
	$(MAKE) --no-print-directory integration

lint: setup ## yamllint, ansible-lint (production profile), ruff.
	yamllint --strict .
	ansible-lint --profile production
	ruff check library module_utils tests filter_plugins doc_fragments molecule action_plugins callback_plugins roles/mongodb_backup/files
	ruff format --check library module_utils tests filter_plugins doc_fragments molecule action_plugins callback_plugins roles/mongodb_backup/files

syntax: setup ## ansible-playbook --syntax-check of every playbook against every inventory.
	@set -e; for inventory in inventories/*/; do \
	  echo "syntax-check playbooks/*.yml -i $$inventory"; \
	  ansible-playbook --syntax-check -i "$$inventory" playbooks/*.yml >/dev/null; done

unit: setup ## Unit tests (no server needed).
	pytest tests/unit

integration: setup ## Integration tests against MONGODB_BIN_DIR, or the stand-in when unset (INTEGRATION_ARGS: more pytest arguments).
	@$(if $(MONGODB_BIN_DIR),echo ">>> integration: real MongoDB binaries from $(MONGODB_BIN_DIR)",echo ">>> integration: MONGODB_BIN_DIR is not set, using the mongod stand-in (tests/standin)")
	pytest tests/integration -n 3 --dist loadfile --no-loadscope-reorder --durations=10 $(INTEGRATION_ARGS)

molecule: setup ## molecule test -s sandbox (converge site.yml, testinfra verify).
	@$(if $(MONGODB_BIN_DIR),echo ">>> molecule: real MongoDB binaries from $(MONGODB_BIN_DIR)",echo ">>> molecule: MONGODB_BIN_DIR is not set, the sandbox runs on the mongod stand-in (tests/standin)")
	MONGODB_BIN_DIR=$(TEST_BIN_DIR) MONGODB_TOOLS_BIN_DIR=$(TEST_TOOLS_BIN_DIR) molecule test -s sandbox

bench: setup ## Benchmark scripts (print numbers; not part of the test suite).
	@for script in tests/bench/*.py; do python "$$script"; done

lock: ## Re-pin constraints.txt from a fresh environment built from requirements.txt.
	rm -rf $(VENV) && $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	{ head -2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && touch $(STAMP)

clean: ## Remove the virtualenv, caches and the sandbox directory.
	rm -rf $(VENV) .cache .sandbox .pytest_cache .ruff_cache
