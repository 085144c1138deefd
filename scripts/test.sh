#!/usr/bin/env bash
# Set up .venv/ (scripts/setup.sh) and run the test suite. Extra args go to pytest.
# Two pytest-xdist workers (one per core of the project's 2-core machines), `--dist loadgroup`:
# tests/conftest.py puts every test in a group (its shared compile, else its file), so each
# expensive fixture is built once and its users never run beside each other.
# BIREAL_TEST_WORKERS=1 runs everything in one process (as before xdist).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
workers="${BIREAL_TEST_WORKERS:-2}"
par=()
# --no-loadscope-reorder: xdist would otherwise hand out the groups largest-first by test count,
# and the 3-test bireal-cifar group (the longest in minutes) started last and ran alone at the
# end (measured 2026-12-07: 20 min 05 s at 161 % CPU); conftest's FIRST_GROUPS order then holds
if [ "$workers" -gt 1 ]; then par=(-n "$workers" --dist loadgroup --no-loadscope-reorder); fi
set +e
.venv/bin/python -m pytest -q --durations=25 "${par[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests (exit 5): the suite is broken or fully deselected" >&2
  exit 1
fi
exit "$rc"
