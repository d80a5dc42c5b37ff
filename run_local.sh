#!/usr/bin/env bash
# Set up (a virtual environment with this project installed) and run the local demo:
# a survey with 3 MPC nodes on 127.0.0.1, 1,000 synthetic employees, checked against plaintext.
# Options go to the demo: --input CSV --nodes N --threshold T --min-group-size K --out RESULT.json
set -euo pipefail
cd "$(dirname "$0")"
. scripts/ensure_venv.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m demo.run_local "$@"
