# The README's commands. Each target runs the set-up first, so a fresh machine needs nothing else.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install test demo

install:
	VENV=$(VENV) bash scripts/setup_env.sh

test: install
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

demo: install
	PYTHON=$(PYTHON) bash scripts/demo.sh
