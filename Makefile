# Every target creates the virtualenv it needs: a fresh clone needs no set-up step.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= bad-migration
SCENARIOS ?=
NIGHTLY_FLAGS ?=
# Scenarios rehearsed at a time by `make nightly`, each in its own process; replicas are
# reset and reused between scenarios (NIGHTLY_FLAGS=--fresh-replicas for a new one each).
NIGHTLY_JOBS ?= 2

.PHONY: help gameday nightly list up down test test-packages unit integration check bench clean

help:
	@echo "make gameday SCENARIO=bad-migration   rehearse a scenario (see make list)"
	@echo "make nightly     rehearse every scenario: JUnit, trend report, exit 1 on a missed target"
	@echo "make list        list the built-in scenarios"
	@echo "make up          start a replica of the reference app (gameday up)"
	@echo "make down        remove it (gameday down)"
	@echo "make test        lint, type-check, unit and Docker integration tests"
	@echo "make bench       build, rollback (built-in and Capistrano) and rehearsal benchmarks"

# The Debian packages the tests use, as `program:package`: the report tests open pages in
# Debian's chromium (driven by Playwright), the examples deploy with Capistrano and over
# ssh, and a target may take its releases from git. As root, install what is missing the
# way gameday installs mmdebstrap; otherwise stop before the tests with the one command
# that installs it. Nothing to do once they are there.
TEST_PACKAGES := /usr/bin/chromium:chromium /usr/bin/cap:capistrano /usr/bin/ssh-keygen:openssh-client /usr/bin/git:git

test-packages:
	@missing=""; for pair in $(TEST_PACKAGES); do \
	  [ -x "$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "make test needs Debian's$$missing; install with: sudo apt-get install$$missing" >&2; exit 1; fi; \
	echo "installing$$missing from Debian's packages"; \
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# make itself exits 2 whenever a command fails; the line before it shows gameday's own
# exit code: 1 for gaps found, 2 for a run that could not happen.
gameday: $(STAMP)
	@$(BIN)/gameday run $(SCENARIO) || { code=$$?; echo "gameday run exited $$code"; exit $$code; }

nightly: $(STAMP)
	@$(BIN)/gameday nightly --jobs $(NIGHTLY_JOBS) $(SCENARIOS) $(NIGHTLY_FLAGS) || { code=$$?; echo "gameday nightly exited $$code"; exit $$code; }

list: $(STAMP)
	$(BIN)/gameday list

up: $(STAMP)
	$(BIN)/gameday up

down: $(STAMP)
	$(BIN)/gameday down

check: $(STAMP)
	$(BIN)/ruff check harness tests bench
	$(BIN)/mypy harness
	$(BIN)/lint-imports

unit: $(STAMP) test-packages
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) test-packages
	$(BIN)/pytest -q -m docker tests/integration

# Two at a time: most of an integration test is waiting on its replica. The tests marked
# serial look at every replica or time against a quiet machine: they run alone, after.
test: test-packages check
	$(BIN)/pytest -q -n 2 --dist worksteal --durations=15 -m "not serial" tests
	$(BIN)/pytest -q -m serial tests

bench: $(STAMP)
	$(BIN)/python bench/build.py
	$(BIN)/python bench/rollback.py
	$(BIN)/python bench/alarm_to_rollback.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/process_managers.py
	$(BIN)/python bench/scenarios.py
	$(BIN)/python bench/expand_contract.py
	$(BIN)/python bench/flag_vs_rollback.py
	$(BIN)/python bench/detection_ladder.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/nightly.py
	$(BIN)/python bench/team_rollback.py
	$(BIN)/python bench/wagtail_upgrade.py
	$(BIN)/python bench/hostile_inputs.py
	$(BIN)/python bench/concurrent_runs.py

clean:
	rm -rf $(VENV) build *.egg-info
