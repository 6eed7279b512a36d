# Everything a fresh machine with only Python 3.11+ needs: `make demo` and `make test` create .venv,
# install fdag with its dependencies, and install Graphviz (and redis-server, Chromium) from Debian where missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench reliability system clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fdag needs Python 3.11+"'
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Chromium renders the HTML catalog in its tests (headless, like a reader's browser).
system:
	@command -v dot >/dev/null && command -v redis-server >/dev/null && command -v chromium >/dev/null || \
	  ( $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq graphviz redis-server chromium >/dev/null )

demo: $(STAMP) system
	$(BIN)/python -m fdag demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy fdag

# The main suite (Dagster and Ray run in .venv and must not skip), then Airflow in its own venv (its pins clash).
test: $(STAMP) system lint
	FDAG_REQUIRE_INTEGRATIONS=dagster $(BIN)/python -m pytest -q
	PYTHON=$(PYTHON) bash tests/integrations/run.sh airflow

# The long run (<= 40 min): >= 10,000 generated modules through both engines and the reference, and the bad-input
# fuzzers at 5x their suite's examples; the figures go to out/reliability/summary.md (docs/reliability.md quotes them).
reliability: $(STAMP) system
	FDAG_RELIABILITY_EXAMPLES=$${FDAG_RELIABILITY_EXAMPLES:-10003} FDAG_RELIABILITY_SHARDS=$${FDAG_RELIABILITY_SHARDS:-7} \
	  FDAG_RELIABILITY_SCALE=$${FDAG_RELIABILITY_SCALE:-5} FDAG_RELIABILITY_MINUTES=$${FDAG_RELIABILITY_MINUTES:-40} \
	  nice -n 2 $(BIN)/python tests/engines/reliability.py

bench: $(STAMP) system
	@command -v wrk >/dev/null || ( $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null )
	for b in import core windows_offline window_state redis_store streams backfill model_service feature_log checks; do \
	  PYTHONPATH=. $(BIN)/python benchmarks/bench_$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .venv-airflow out .pytest_cache .ruff_cache .hypothesis
