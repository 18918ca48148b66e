# Two commands matter: `make demo` (the main job on the embedded default) and `make test`.
PYTHON ?= python3.11
TOOLS := .tools
NOX := $(TOOLS)/bin/nox
export PATH := $(abspath $(TOOLS))/bin:$(PATH)

.PHONY: demo test bench lint lock clean

$(NOX): requirements/tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet -r requirements/tools.txt
	touch $@

## Train the digits model under Airflow, Prefect and Dagster into one fresh registry.
demo: $(NOX)
	$(NOX) --install-only -s airflow prefect dagster
	$(NOX) -s demo

## Every test: core, Airflow, Prefect, Dagster, then lint and type check.
test: $(NOX)
	$(NOX) -s core airflow prefect dagster lint

## Benchmarks, each against a baseline measured in the same run.
bench: $(NOX)
	$(NOX) -s bench

lint: $(NOX)
	$(NOX) -s lint

## Re-resolve the lock files in requirements/ from pyproject.toml.
lock: $(NOX)
	$(NOX) -s lock

clean:
	rm -rf .nox .tools .demo
