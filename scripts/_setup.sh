# Shared by the scripts: make sure uv is there and a venv is in sync with uv.lock.
# Usage: . scripts/_setup.sh VENV_DIR [uv sync options...]
# Says each step on stderr, one short line, so that the first install (13-26 s) is not silent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
step() { echo "setup: $*" >&2; }
# This machine sets PYTHONDONTWRITEBYTECODE=1: compile at install time, or every start recompiles.
# A caller whose processes write their own bytecode sets compile_dependencies=no (scripts/test).
if [ "${compile_dependencies:-yes}" = yes ]; then
    export UV_COMPILE_BYTECODE=1
fi
if command -v uv >/dev/null 2>&1; then
    UV=(uv)
else
    if ! python3 -m uv --version >/dev/null 2>&1; then
        step "installing uv with pip"
        python3 -m pip install --quiet --disable-pip-version-check uv
    fi
    UV=(python3 -m uv)
fi
venv="$1"; shift
step "syncing $venv with uv.lock"
UV_PROJECT_ENVIRONMENT="$venv" "${UV[@]}" sync --frozen --quiet "$@"
# uv compiles the dependencies; the project itself is installed editable and would be compiled on
# every start (PYTHONDONTWRITEBYTECODE), about 70 ms of the TUI's first frame.
step "compiling mlops-tui"
"$venv/bin/python" -m compileall -q -j 0 src >/dev/null
step "$venv ready"
