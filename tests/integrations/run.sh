#!/usr/bin/env bash
# Orchestrator integration tests, with the environments they need. Usage: tests/integrations/run.sh [dagster|airflow|all]
#   dagster: installs dagster into the main .venv (it conflicts with nothing there) and runs test_dagster.py.
#   airflow: Airflow's pins conflict easily, so it gets its own venv, .venv-airflow, with fdag installed editable;
#            test_airflow.py migrates a throwaway SQLite AIRFLOW_HOME itself and runs the example DAG with dag.test();
#            test_docs.py -k orchestration runs the Airflow examples of docs/orchestration.md.
# FDAG_REQUIRE_INTEGRATIONS turns "package not installed" skips into failures, so CI cannot pass by skipping.
# Timings on the 2-core CI machine, from scratch: dagster into .venv ~10 s + tests ~5 s; .venv-airflow ~100 s + tests ~20 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
DAGSTER_VERSION=${DAGSTER_VERSION:-1.13.29}
AIRFLOW_VERSION=${AIRFLOW_VERSION:-3.3.2}  # no official constraints file is reachable here: pin what resolves
what=${1:-all}

if [[ $what == dagster || $what == all ]]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q -e '.[dev,dagster]' "dagster==$DAGSTER_VERSION"
  FDAG_REQUIRE_INTEGRATIONS=dagster .venv/bin/python -m pytest -q tests/integrations/test_dagster.py
fi

if [[ $what == airflow || $what == all ]]; then
  [ -x .venv-airflow/bin/python ] || "$PYTHON" -m venv .venv-airflow
  .venv-airflow/bin/python -m pip install -q -e '.[airflow]' "apache-airflow==$AIRFLOW_VERSION" pytest
  FDAG_REQUIRE_INTEGRATIONS=airflow .venv-airflow/bin/python -m pytest -q tests/integrations/test_airflow.py
  # The "# requires: airflow" blocks of docs/orchestration.md: skipped by the main suite, run here.
  FDAG_REQUIRE_INTEGRATIONS=airflow .venv-airflow/bin/python -m pytest -q tests/project/test_docs.py -k orchestration
fi
