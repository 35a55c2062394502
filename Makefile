# The README's commands. Each target runs the set-up first, so a fresh machine needs nothing else.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install test

install:
	bash scripts/setup_env.sh

test: install
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)
