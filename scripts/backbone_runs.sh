#!/usr/bin/env bash
# The runs of docs/experiments/2026-12-07-backbones.md, then its decision. Each backbone is trained
# with the default's recipe (configs/release/binary.yaml, 10 epochs) and then its 3-epoch corner-swap
# continuation; an interrupted run resumes where it stopped.
#
#   bash scripts/backbone_runs.sh [KERMANY_224_DIR] [RUNS_DIR]
#
# Time on 2 CPU cores, one thread per run: about 2.5 hours per Lite2 run with its continuation
# (a Lite2 epoch is 10-16 minutes), 2 hours per Lite1; minutes on one GPU (pneumo-train uses CUDA
# when it is there). Order: Lite2, then the second Lite2 seed (S: two Lite2 networks, over the 20 ms
# limit whatever it scores, so it completes the table without changing the decision), then Lite1;
# the study lists a missing run as "not run".
set -euo pipefail
DATA=${1:-../shared/data/kermany_224}
RUNS=${2:-runs/backbones}
export OMP_NUM_THREADS=1

train() {  # name: a run folder under $RUNS; the rest: pneumo-train flags. A started run resumes (a finished one only recalibrates).
    local name=$1; shift
    if [[ -f $RUNS/$name/last.pt ]]; then
        pneumo-train --resume "$RUNS/$name" --threads 1
    else
        pneumo-train --data "$DATA" --threads 1 --out "$RUNS/$name" "$@"
    fi
}

backbone() {  # name zoo-config [flags]: the recipe, then the corner-swap continuation from its best.pt
    local name=$1 config=$2; shift 2
    train "$name" --config "$config" "$@"
    train "$name-cs" --config configs/release/corner_swap.yaml --model "$(sed -n 's/^model: //p' "$config")" \
        --init-from "$RUNS/$name/best.pt" "$@"
}

backbone lite2 configs/zoo/efficientnet_lite2.yaml
backbone lite2-seed43 configs/zoo/efficientnet_lite2.yaml --seed 43 --split-seed 42
backbone lite1 configs/zoo/efficientnet_lite1.yaml
python -m pneumo.training.studies.backbones --data "$DATA" --runs "$RUNS" --out "$RUNS/study" --threads 1
