# Shared by the scripts: make sure uv is there and a venv is in sync with uv.lock.
# Usage: . scripts/_setup.sh VENV_DIR [uv sync options...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# This machine sets PYTHONDONTWRITEBYTECODE=1: compile at install time, or every start recompiles.
export UV_COMPILE_BYTECODE=1
if command -v uv >/dev/null 2>&1; then
    UV=(uv)
else
    python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
    UV=(python3 -m uv)
fi
venv="$1"; shift
UV_PROJECT_ENVIRONMENT="$venv" "${UV[@]}" sync --frozen --quiet "$@"
# uv compiles the dependencies; the project itself is installed editable and would be compiled on
# every start (PYTHONDONTWRITEBYTECODE), about 70 ms of the TUI's first frame.
"$venv/bin/python" -m compileall -q -j 0 src >/dev/null
