# The front door. `make demo` and `make test` do their own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
JARS_STAMP := .cache/jars/.verified
LAYER_STAMP := .cache/lambda/.fetched
export SPARK_LOCAL_IP := 127.0.0.1
export CHECKPOINT_DISABLE := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup jvm-archive demo test-unit test test-slow test-all check format bench report-png clean

help:
	@echo "make demo        set up, then run the whole pipeline locally on generated sample data"
	@echo "make test-unit   the unit tests only: no Spark, server, PostgreSQL or Terraform (under a minute)"
	@echo "make test        set up, then run the test suite (slow drills: make test-slow)"
	@echo "make check       ruff lint + format check + mypy"
	@echo "make bench       benchmarks (needs ../shared/data)"
	@echo "make report-png  docs/report.png from a fresh demo run, drawn by headless Chromium"

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	@command -v java >/dev/null || { echo "error: java not found (Java 17 is required by Spark)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@# AWS's awsgluedataplanepython (an earlier requirement) would shadow our own awsglue in an older .venv.
	$(PY) -m pip uninstall --quiet --yes awsgluedataplanepython 2>/dev/null || true
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(JARS_STAMP): $(STAMP) src/covid_pipeline/spark_env.py
	$(PY) -m covid_pipeline.spark_env
	touch $@

# The wheels of the Lambda bundle and layer, for the Lambda platform (covid_pipeline.artifacts builds the zips).
$(LAYER_STAMP): $(STAMP) lambda/requirements-layer.txt lambda/requirements-bundle.txt
	$(PY) -m covid_pipeline.artifacts --fetch-only
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# A class-data-sharing archive of the classes a Spark JVM loads (covid_pipeline.jvm_archive_build): fresh Spark
# JVMs start seconds sooner. Built once per pyspark, JDK and JVM options (about 40 s), a no-op when it is there;
# Spark runs without it when it cannot be built.
jvm-archive: $(STAMP)
	$(PY) -m covid_pipeline.jvm_archive_build

setup: $(STAMP) $(JARS_STAMP) $(LAYER_STAMP) $(CHECKOV_STAMP) jvm-archive

demo: $(STAMP) $(JARS_STAMP) $(LAYER_STAMP) jvm-archive
	$(VENV)/bin/covid-pipeline --env dev demo

# tests/unit only: its conftest fails any test there that starts Spark, a JVM, a server or PostgreSQL.
test-unit: $(STAMP) $(LAYER_STAMP)
	$(PY) -m pytest tests/unit -q

test: setup
	$(PY) -m pytest -m "not slow" -q

# Two pytest streams side by side (tests/slow_streams.py): much of a slow drill is waiting, not computing.
test-slow: setup
	$(PY) -m tests.slow_streams

test-all: setup
	$(PY) -m pytest -q

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) $(JARS_STAMP) $(LAYER_STAMP) jvm-archive
	$(PY) -m bench.run_all

# The README's picture from a real run: the demo's pipeline on its sample data, then the report of its warehouse,
# drawn by headless Chromium (Debian: apt-get install -y chromium). Run it again when the report changes.
report-png: demo
	$(VENV)/bin/covid-pipeline --env dev report --local --screenshot docs/report.png --screenshot-height 2560

clean:
	rm -rf .local build .pytest_cache .ruff_cache .mypy_cache spark-warehouse bench/results/tmp
