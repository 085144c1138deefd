#!/usr/bin/env bash
# Set up .venv/ (scripts/setup.sh) and run the default job: `bireal run` (extra args pass on).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
exec .venv/bin/bireal run "$@"
