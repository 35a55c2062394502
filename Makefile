# The README's commands. Each target runs the set-up first, so a fresh machine needs nothing else.
# Knobs (environment or make arguments): VENV (default .venv), PYTHON (the interpreter that
# creates the venv), MMSOLA_CACHE_DIR (the mmcv wheel cache), PYTEST_ARGS.
VENV ?= .venv
VENV_PYTHON = $(VENV)/bin/python
PYTEST_ARGS ?=
export VENV

.PHONY: install test demo

install:
	bash scripts/setup_env.sh

test: install
	$(VENV_PYTHON) -m pytest tests $(PYTEST_ARGS)

demo: install
	bash scripts/demo.sh
