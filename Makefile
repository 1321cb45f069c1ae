# Two commands on a fresh machine: `make run` and `make test`. Everything goes into .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install browser run test demo bench reliability clean

help:
	@echo "make run    install into .venv and start Temporal, the sandbox, the worker and the endpoint"
	@echo "make test   install into .venv and run the test suite"
	@echo "make demo   run a whole planned handover on the demo scenario and print the report"
	@echo "make bench  the service against a naive sequential script: reference, alert storm, acks, memory (~8 min)"
	@echo "make reliability  the fault, crash and abuse suites on real processes, and their table (~15 min)"
	@echo "make clean  remove .venv and .data (all local handovers)"

# Re-installs only when pyproject.toml changes; safe to run again and again.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m devstack

# The console's browser test drives Debian's Chromium (never a browser download).
browser:
	@command -v chromium >/dev/null || (apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium))

# Two test processes (pytest-xdist), a file each at a time: each has its own Temporal dev server
# and sandbox; most tests wait on real servers, so two halve the wall time (10 min -> 5 on 2 cores).
test: install browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

demo: install
	$(PY) -m devstack.demo

# The service against what a team writes instead, on the same sandbox; prints one table.
bench: install
	$(PY) scripts/bench.py $(BENCH_ARGS)

# Kills workers, restarts Temporal, injects API faults and bad inputs; prints one table.
reliability: install
	$(PY) scripts/reliability.py

clean:
	rm -rf $(VENV) .data
