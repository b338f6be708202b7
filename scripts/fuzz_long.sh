#!/usr/bin/env bash
# The long fuzzing run (README, "Reliability"): the tests of tests/reliability/test_fuzz.py with many
# more examples each. Usage: bash scripts/fuzz_long.sh [EXAMPLES per test, default 20000]
# Any input that makes decoding, preprocessing or predict raise anything but a PneumoError fails the
# run, and Hypothesis prints the smallest such input (kept in .hypothesis/ for the next run).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}"
PNEUMO_FUZZ_EXAMPLES="${1:-20000}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" \
  "$PYTHON" -m pytest -q -p no:cacheprovider tests/reliability/test_fuzz.py --hypothesis-show-statistics
