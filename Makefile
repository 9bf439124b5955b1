# The two commands: `make run` (contentgen on http://127.0.0.1:8000/) and `make test` (the whole suite).
# `make run LLM=local` also installs the local model's extra (compiles llama.cpp the first time) and uses it;
# LLM=<crewAI model string> runs with that model instead of the offline one.
# Everything installs from the hashed locks in requirements/ (`make lock` refreshes them): `make run` the
# embedded servers' (no test tool), `make test` the developers' one.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-stamp
LOCAL_STAMP := $(VENV)/.local-stamp
DEV_STAMP := $(VENV)/.dev-stamp
CI_STAMP := $(VENV)/.ci-stamp
A11Y_STAMP := tests/a11y/node_modules/.package-lock.json
PYTEST_ARGS ?=
LLM ?=
UV ?= $(BIN)/uv

.PHONY: install install-local install-run run test test-long lint bench bench-quick lock licenses clean

# pip's own progress is shown: the first install downloads crewAI and its tree, a few hundred MB.
define install_lock
	@echo "contentgen: installing $(1) into $(VENV)/ (the first time takes a few minutes;"
	@echo "            later runs skip this until the lock changes)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar on --upgrade "pip>=24"
	$(BIN)/python -m pip install --progress-bar on --require-hashes -r $(1)
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	@touch $(2)
	@echo "contentgen: installed from $(1)."
endef

$(RUN_STAMP): requirements/embedded.txt pyproject.toml
	$(call install_lock,requirements/embedded.txt,$(RUN_STAMP))

$(LOCAL_STAMP): requirements/local.txt pyproject.toml
	$(call install_lock,requirements/local.txt,$(LOCAL_STAMP))

$(DEV_STAMP): requirements/dev.txt pyproject.toml
	$(call install_lock,requirements/dev.txt,$(DEV_STAMP))

$(CI_STAMP): requirements/dev-local.txt pyproject.toml
	$(call install_lock,requirements/dev-local.txt,$(CI_STAMP))
	@touch $(DEV_STAMP) $(LOCAL_STAMP) $(RUN_STAMP)

install-run: $(RUN_STAMP)
install: $(DEV_STAMP)
install-local: $(CI_STAMP)

run: $(if $(filter local,$(LLM)),$(LOCAL_STAMP),$(RUN_STAMP))
	$(if $(LLM),CONTENTGEN_LLM='$(LLM)' )$(BIN)/python -m contentgen.devserver

# axe-core for the accessibility browser test, from its lock; npm writes the stamp, so this runs again only
# when the lock changes. Without npm the test skips with the command to run (in CI, where CI is set, it fails).
$(A11Y_STAMP): tests/a11y/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/a11y --no-audit --no-fund; \
	else echo "contentgen: npm not found; the axe-core accessibility test will be skipped"; fi

# The slow tests first (tests/conftest.py), on 3 xdist processes. Shuffled instead, to find tests that
# depend on others (pytest-randomly; the seed is printed, and reused with --randomly-seed):
#   make test PYTEST_ARGS='-p randomly'          make test PYTEST_ARGS='-p randomly --randomly-seed=1234'
test: install $(A11Y_STAMP)
	$(BIN)/python -m pytest -n 3 --dist loadgroup --durations=15 $(PYTEST_ARGS)

# The long whole-system runs (the chaos run, schemathesis's coverage phase): CI runs them in a step of their own.
test-long: install
	$(BIN)/python -m pytest -m long -n 2 --dist loadgroup --durations=0 $(PYTEST_ARGS)

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

# The locks, each compiled within the pins of the one before, so every package has one version everywhere.
# `make lock` keeps the pins it can; `make lock UPGRADE=1` moves each to the newest version allowed.
LOCK = $(UV) pip compile pyproject.toml --quiet --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock:
	$(LOCK) -o requirements/runtime.txt
	$(LOCK) --extra embedded -c requirements/runtime.txt -o requirements/embedded.txt
	$(LOCK) --extra embedded --extra dev -c requirements/embedded.txt -o requirements/dev.txt
	$(LOCK) --extra embedded --extra local -c requirements/dev.txt -o requirements/local.txt
	$(LOCK) --extra embedded --extra local --extra dev -c requirements/dev.txt -c requirements/local.txt \
		-o requirements/dev-local.txt
	$(LOCK) --extra local -c requirements/local.txt -o requirements/runtime-local.txt

clean:
	rm -rf var/run var/log var/staticfiles

# The runtime's licences (the packages of requirements/runtime.txt), against what an MIT project may ship.
# Reviewed by hand: pyphen and tld are GPL/LGPL/MPL tri-licensed (used under MPL-1.1); crewai, crewai-cli,
# crewai-core and cel-python declare no licence in their metadata (their sources are MIT and Apache-2.0).
licenses: install
	$(BIN)/pip-licenses --python $(BIN)/python --from=mixed --partial-match \
		--packages $$(sed -n 's/^\([A-Za-z0-9_.-][A-Za-z0-9_.-]*\)==.*/\1/p' requirements/runtime.txt) \
		--ignore-packages pyphen tld crewai crewai-cli crewai-core cel-python \
		--fail-on 'GPL;SSPL;BUSL;Commons Clause;Elastic License;CC-BY-NC;CC-BY-SA;EUPL;OSL;CDDL;EPL' \
		--allow-only 'MIT;BSD;0BSD;Apache;ISC;PSF;Python Software Foundation;MPL;Mozilla Public License;Zlib;ZPL;CNRI-Python;TCL;CC0;Unlicense;HPND'
