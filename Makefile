# The two commands: `make run` (contentgen on http://127.0.0.1:8000/) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m contentgen.devserver

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# mypy's Django plugin imports the settings: point them at unused ports so no embedded server starts.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	DJANGO_DEBUG=1 MONGODB_URI=mongodb://127.0.0.1:9/contentgen REDIS_URL=redis://127.0.0.1:9/0 $(BIN)/mypy .

bench: install
	PYTHON=$(BIN)/python bench/run

clean:
	rm -rf var/run var/log var/staticfiles
