# Sourced by run_tests.sh: install the browser library's packages (web/node_modules) exactly as
# web/package-lock.json pins them (npm ci), on the first run and whenever web/package.json or the
# lock file changes.  Without npm the browser library's tests skip, saying why.
if command -v npm >/dev/null 2>&1; then
    if [ ! -f web/node_modules/.installed ] || [ web/package-lock.json -nt web/node_modules/.installed ] \
        || [ web/package.json -nt web/node_modules/.installed ]; then
        echo "installing web/ packages (npm ci, first run only)..." >&2
        (cd web && npm ci --no-audit --no-fund --loglevel=error)
        touch web/node_modules/.installed
    fi
else
    echo "npm not found: tests/test_web_core.py (the browser library) will be skipped" >&2
fi
