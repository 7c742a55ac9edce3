# Everything a fresh machine needs, in two entry points: `make demo` and `make test`.
# The venv is built from an interpreter a pen's unprivileged uid can read
# (Debian's /usr/bin/python3), because pyenv's lives under a 0700 /root.
PY ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint sabotage bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,container]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests examples scripts benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks --json benchmarks/results.json

sabotage: $(STAMP)
	$(BIN)/python scripts/sabotage.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
