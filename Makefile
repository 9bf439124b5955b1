# The two commands: `make run` (contentgen on http://127.0.0.1:8000/) and `make test` (the whole suite).
# `make run LLM=local` installs the local model's extra (compiles llama.cpp the first time) and uses it;
# LLM=<crewAI model string> runs with that model instead of the offline one.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCAL_STAMP := $(VENV)/.installed-local-stamp
A11Y_STAMP := tests/a11y/node_modules/.package-lock.json
PYTEST_ARGS ?=
LLM ?=

.PHONY: install install-local run test lint bench clean

# pip's own progress is shown: the first install downloads crewAI and its tree, a few hundred MB.
$(STAMP): pyproject.toml
	@echo "contentgen: installing its dependencies into $(VENV)/ (the first time takes about 2-3 minutes;"
	@echo "            later runs skip this until pyproject.toml changes)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar on --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]'
	@touch $(STAMP)
	@echo "contentgen: dependencies installed."

install: $(STAMP)

$(LOCAL_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $(LOCAL_STAMP)

install-local: $(LOCAL_STAMP)

run: install $(if $(filter local,$(LLM)),$(LOCAL_STAMP))
	$(if $(LLM),CONTENTGEN_LLM='$(LLM)' )$(BIN)/python -m contentgen.devserver

# axe-core for the accessibility browser test, from its lock; npm writes the stamp, so this runs again only
# when the lock changes. Without npm the test skips with the command to run (in CI, where CI is set, it fails).
$(A11Y_STAMP): tests/a11y/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/a11y --no-audit --no-fund; \
	else echo "contentgen: npm not found; the axe-core accessibility test will be skipped"; fi

test: install $(A11Y_STAMP)
	$(BIN)/python -m pytest -n 3 --dist loadgroup --durations=15 $(PYTEST_ARGS)

# mypy's Django plugin imports the settings: point them at unused ports so no embedded server starts.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	DJANGO_DEBUG=1 MONGODB_URI=mongodb://127.0.0.1:9/contentgen REDIS_URL=redis://127.0.0.1:9/0 $(BIN)/mypy .

bench: install
	PYTHON=$(BIN)/python bench/run

clean:
	rm -rf var/run var/log var/staticfiles
