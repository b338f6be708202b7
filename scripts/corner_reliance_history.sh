#!/usr/bin/env bash
# The corner check (python -m pneumo.training.studies.corner_reliance) on every binary model that has shipped as
# `default`, taken from this repository's history: docs/experiments/2026-12-01-test-results-and-limits.md.
# Validation split only; each model's test figures are the ones the card already reports.
#
#   bash scripts/corner_reliance_history.sh [KERMANY_224_DIR]     # about 15 minutes on 2 CPU cores
set -euo pipefail
DATA=${1:-../shared/data/kermany_224}
# The commits that shipped each default: interim, first release, 5/6-epoch ensemble,
# 10-epoch ensemble, corner swap.
COMMITS=(f54ce57 3ca2e27 5336109 22c371c 0dd6b70)
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
checkpoints=()
for commit in "${COMMITS[@]}"; do
    git show "$commit:pneumo_runtime/models/default.pt" > "$workdir/$commit.pt"
    checkpoints+=("$workdir/$commit.pt")
done
mkdir -p reports
python -m pneumo.training.studies.corner_reliance "${checkpoints[@]}" --data "$DATA" --out reports/shortcuts-history.json --threads 2
