#!/usr/bin/env bash
# Set up (a virtual environment with this project and its test tools installed, and the browser
# library's packages under web/) and run the whole test suite, end-to-end tests with real node
# processes included.
# Extra arguments go to pytest, e.g. ./run_tests.sh -m "not slow" for the fast unit tests only.
# Two pytest workers by default (TEST_WORKERS=0 runs in one process): many tests wait on real
# node processes, so two workers finish in about 3/4 of the time on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/ensure_venv.sh
. scripts/ensure_web.sh
"$VENV/bin/python" -m mypy protocol contributor analyst mpc_nodes demo
exec "$VENV/bin/python" -m pytest -n "${TEST_WORKERS:-2}" "$@"
