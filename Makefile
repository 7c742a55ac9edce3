# Everything a fresh machine needs, in two entry points: `make demo` and `make test`.
# The venv is built from an interpreter a pen's unprivileged uid can read
# (Debian's /usr/bin/python3), because pyenv's lives under a 0700 /root.
PY ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint sabotage bench clean postgres docs

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,postgres,container,docs,dashboard]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests examples scripts benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# The audit store tests start a throwaway PostgreSQL cluster (tests/postgres.py);
# its binaries come from the distribution's package when they are missing.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

# The suite runs its container tests on Docker; the second run repeats them on Podman
# (tests/engine.py installs and starts each engine when it is missing).
test: lint postgres docs
	$(BIN)/pytest
	CORRAL_CONTAINER_ENGINE=podman $(BIN)/pytest -k container

# The documentation site (mkdocs.yml, docs/) into site/; any warning fails the build.
# Its code examples are run by tests/docs/test_examples.py.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet --site-dir site

bench: $(STAMP)
	$(BIN)/python -m benchmarks --json benchmarks/results.json

sabotage: $(STAMP)
	$(BIN)/python scripts/sabotage.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
