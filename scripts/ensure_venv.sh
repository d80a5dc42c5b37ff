# Sourced by run_local.sh and run_tests.sh: create $VENV (default .venv) with this project and
# its test tools installed from pyproject.toml, on the first run and whenever pyproject changes.
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/mpc-node" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
    echo "setting up $VENV (first run only)..." >&2
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -e ".[test]"
    touch "$VENV/.installed"
fi
