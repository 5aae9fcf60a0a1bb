# The two set-up commands of the README. Each installs what it needs, then runs.
#   make run    install the project (all extras) and run the shipped example study locally
#   make test   install system tools, the project with its test extras, then lint and test
#               (pytest-xdist: one worker per core, at most 4, each with one BLAS/torch
#               thread so the workers do not oversubscribe the cores; most tests wait on
#               real processes, so two workers on 2 cores take about half the time of one)
PYTHON ?= python3
VENV   ?= .venv
PIP    := $(VENV)/bin/pip
# The CPU build of torch, named first in the same pip call: a bare torch requirement
# would pull a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: run test system-tools

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

run: $(VENV)/bin/python
	$(PIP) install -q $(TORCH) -e '.[all]'
	$(VENV)/bin/carbs run examples/digits-mlp/study.yaml

# promtool and prometheus (Debian's package) check the alert rules and scrape a real run;
# kubectl (Debian's package) drives the README's cluster walkthrough against the emulator;
# chromium and chromium-driver (Debian's packages) run the study UI's browser tests.
system-tools:
	@command -v promtool >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; }
	@command -v kubectl >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl; }
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver; }

test: system-tools $(VENV)/bin/python
	$(PIP) install -q $(TORCH) -e '.[all,test,bench,docs]'
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/sphinx-build -W --keep-going -n -q -b html docs build/docs
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q -n auto --maxprocesses=4
