# locality: `make run` sets everything up and shows the bundled real sample; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.spark-installed
SAMPLE_DB ?= data/sample.duckdb

.PHONY: run test test-quick lint typecheck pytest bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The tests also run the metric registry on PySpark (tests marked `spark`): a larger
# install that `make run` does not need.
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

run: $(STAMP)
	rm -f $(SAMPLE_DB) $(SAMPLE_DB).wal
	# The dashboard's figures are stored once, by the last ingest (LOCALITY_REFRESH=0 skips it).
	LOCALITY_REFRESH=0 $(BIN)/locality --db $(SAMPLE_DB) ingest data/sample/ocds
	# Exit code 1 means some lines were rejected (the sample has 2, each with its reason in
	# the summary): the rest is loaded, so the demo goes on; any other failure stops it.
	$(BIN)/locality --db $(SAMPLE_DB) ingest data/sample/spend || test $$? -eq 1
	$(BIN)/locality --db $(SAMPLE_DB) status
	$(BIN)/locality --db $(SAMPLE_DB) metrics --by buyer --limit 15
	$(BIN)/locality --db $(SAMPLE_DB) place "West Yorkshire" --like-for-like --top 10
	$(BIN)/locality --db $(SAMPLE_DB) serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# One worker per core (pytest-xdist); a file's tests stay in one worker, so its session
# stores and its Spark or browser session are built once.
pytest: $(SPARK_STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

test: lint typecheck pytest

# The quick part of the suite, while working: no test marked slow (stores built and warmed
# end to end, several seconds each), no Spark, no browser. `make test` still runs them all.
test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not spark and not browser"

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/spend.py
	$(BIN)/python bench/resolve.py
	$(BIN)/python bench/network.py
	$(BIN)/python bench/matching.py

clean:
	rm -rf $(VENV) $(SAMPLE_DB) $(SAMPLE_DB).wal .pytest_cache .mypy_cache .ruff_cache
