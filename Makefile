# The two commands: `make run` (contentgen on http://127.0.0.1:8000/) and `make test` (the whole suite).
# `make run LLM=local` installs the local model's extra (compiles llama.cpp the first time) and uses it;
# LLM=<crewAI model string> runs with that model instead of the offline one.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCAL_STAMP := $(VENV)/.installed-local-stamp
PYTEST_ARGS ?=
LLM ?=

.PHONY: install install-local run test lint bench bench-quick clean

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

# The slow tests first (tests/conftest.py), on 3 xdist processes. Shuffled instead, to find tests that
# depend on others (pytest-randomly; the seed is printed, and reused with --randomly-seed):
#   make test PYTEST_ARGS='-p randomly'          make test PYTEST_ARGS='-p randomly --randomly-seed=1234'
test: install
	$(BIN)/python -m pytest -n 3 --dist loadgroup --durations=15 $(PYTEST_ARGS)

# The benchmark suite's quick run, as a test (tests/bench/test_bench.py): CI runs it in a step of its own.
bench-quick: install
	$(BIN)/python -m pytest -m bench --durations=0 $(PYTEST_ARGS)

# mypy's Django plugin imports the settings: point them at unused ports so no embedded server starts.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	DJANGO_DEBUG=1 MONGODB_URI=mongodb://127.0.0.1:9/contentgen REDIS_URL=redis://127.0.0.1:9/0 $(BIN)/mypy .

bench: install
	PYTHON=$(BIN)/python bench/run

clean:
	rm -rf var/run var/log var/staticfiles
