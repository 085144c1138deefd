#!/usr/bin/env bash
# Create/refresh the project's virtual environment in .venv/ (idempotent).
#   torch==2.13.0 (CPU build) with the pinned requirements in one resolve, then finn-plus
#   with --no-deps (its brevitas==0.13.0 pin conflicts with torch 2.13; see requirements.txt),
#   then this project in editable mode. A stamp file skips all of it when nothing changed.
#   --no-compile: no byte-compiling of every installed module (torch alone has thousands);
#   Python compiles what is imported on first use (measured with a warm pip cache on 2 cores:
#   133 s -> 105 s, see README "First run").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then PY="$c"; break; fi
  done
fi
[ -n "$PY" ] || { echo "setup: no python3 found; install Python 3.11" >&2; exit 1; }
ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$ver" = "3.11" ] || { echo "setup: need Python 3.11 (finn-plus 1.6.1 needs < 3.12), found $ver at $(command -v "$PY")" >&2; exit 1; }

stamp=".venv/.bireal-setup"
want="$(cat requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/bireal ]; then
  exit 0
fi
echo "setup: installing the pinned environment into .venv/ (about 2 minutes the first time)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pipq() {
  set -o pipefail
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-compile "$@" 2>&1 \
    | { grep -v "is ignored: it is neither" || true; }
}
pipq "torch==2.13.0" -r requirements.txt
pipq --no-deps "finn-plus==1.6.1"
pipq --no-deps --no-build-isolation -e .     # the venv's own setuptools (Python 3.11 ships it)
.venv/bin/python -c "import torch, brevitas, qonnx, finn, hls4ml, model" || { echo "setup: import check failed" >&2; exit 1; }
echo "$want" > "$stamp"
echo "setup: done (torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'))"
