#!/usr/bin/env bash
# Set up (a virtual environment with this project installed) and run the local demo:
# a complete survey (basic pay, variable pay for some, part-time hours for some; --one-figure: a
# salary each) with 3 MPC nodes on 127.0.0.1, 1,000 synthetic employees, checked against plaintext.
# Options go to the demo, e.g. --input FILE (an HR file, paths relative to the current
# directory) --nodes N --threshold T --min-group-size K --out RESULT.json; --help lists them.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
export VENV
(cd "$ROOT" && . scripts/ensure_venv.sh)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m demo.run_local "$@"
