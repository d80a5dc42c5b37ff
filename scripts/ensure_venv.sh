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
# Bytecode for the project's own modules, as a regular (non-editable) install would have: with
# PYTHONDONTWRITEBYTECODE set, every node and party process would otherwise compile them again.
"$VENV/bin/python" -m compileall -q protocol contributor analyst mpc_nodes demo benchmarks >/dev/null
