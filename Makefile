# The two commands of the README. Each installs what is missing first
# (tools/setup_env.sh is a no-op once .venv matches the requirements).
PY := .venv/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: env demo test lint clean-demo

env:
	bash tools/setup_env.sh

demo: env
	$(PY) tools/run_demo.py

test: env
	$(PY) -m pytest tests

lint: env
	$(PY) -m flake8 projects tools tests
	$(PY) -m isort --check-only --diff projects tools tests
	$(PY) -m yapf --diff --recursive projects tools tests
