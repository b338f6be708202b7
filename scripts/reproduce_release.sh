#!/usr/bin/env bash
# Rebuilds the shipped models and every figure in MODEL_CARD.md and the README's model zoo:
# training, calibration, ablations, export, evaluation on the official test split, benchmarks.
# About 6 hours on 2 CPU cores (the trainings run one after another here; the release runs were
# trained as parallel single-thread runs, `--threads 1`, which is what this script uses too).
#
#   bash scripts/reproduce_release.sh [KERMANY_224_DIR] [FULLRES_SAMPLE_DIR]
#
# Nothing here chooses anything on test: epochs, temperatures and thresholds come from the
# patient-grouped validation split inside train; test is only evaluated, after export.
set -euo pipefail
DATA=${1:-../shared/data/kermany_224}
FULLRES=${2:-../shared/data/kermany_fullres_sample}
export OMP_NUM_THREADS=1

train() {  # name config [extra flags...]; an interrupted (or finished) run resumes instead
    local name=$1 config=$2; shift 2
    if [[ -f runs/$name/last.pt ]]; then
        pneumo-train --resume "runs/$name" --threads 1
    else
        pneumo-train --config "$config" --data "$DATA" --threads 1 --out "runs/$name" "$@"
    fi
}

evaluate_and_record() {  # model.onnx report_dir: evaluate this very file on test, then store the figures in its contract
    pneumo-evaluate --model "$1" --data "$DATA" --split test --out "$2" --mc-passes 0 --threads 1
    pneumo-export --record-test-metrics "$1" --test-metrics "$2/metrics.json"
}

# 1. Training (each calibrates its best.pt on validation at the end). The two seed variants share
#    release-bin's validation split (--split-seed 42), so they can be combined on clean validation.
train release-bin configs/efficientnet_lite0.yaml
train release-bin-s7 configs/efficientnet_lite0.yaml --seed 7 --split-seed 42 --epochs 6
train release-bin-s11 configs/efficientnet_lite0.yaml --seed 11 --split-seed 42
train release-3c configs/efficientnet_lite0_three_class.yaml
train zoo-custom_cnn configs/custom_cnn.yaml --epochs 3 --warmup-epochs 0.3

# 1b. Combinations, greedy on the shifted-validation AUC (MODEL_CARD.md, "Combining runs"):
#     weight averages (across epochs, across seeds) and the logit ensemble that ships.
combine() { python -m pneumo.training.average "${@:3}" --combine "$1" --data "$DATA" --out "runs/$2" --threads 2; }
combine weights swa-release-bin runs/release-bin/epoch_0{2,3,4,5}.pt
combine weights soup-release-bin-seeds runs/release-bin{,-s7}/best.pt
combine logits release-bin-ensemble runs/release-bin{,-s7,-s11}/best.pt --min-gain 0.0005

# 2. Ablations, validation split only (MODEL_CARD.md, "Ablations").
python -m pneumo.training.ablations --config configs/efficientnet_lite0.yaml --data "$DATA" --out runs/ablations --threads 2

# 3. Export (parity with torch, INT8 with its validation AUC check, input guard, torch twin).
for name in release-bin-ensemble release-bin release-3c zoo-custom_cnn; do
    quantize=(); [[ $name == release-bin* ]] && quantize=(--quantize int8)
    pneumo-export --to onnx --checkpoint "runs/$name/best.pt" --out "exported/$name" --guard-xrays "$FULLRES" "${quantize[@]}"
done

# 4. The official test split, once per shipped file.
evaluate_and_record exported/release-bin-ensemble/model.onnx reports/release-bin-ensemble
evaluate_and_record exported/release-bin-ensemble/model.int8.onnx reports/release-bin-ensemble-int8
evaluate_and_record exported/release-bin/model.onnx reports/release-bin   # the previous release (one run), for the card and zoo
evaluate_and_record exported/release-bin/model.int8.onnx reports/release-bin-int8
evaluate_and_record exported/release-3c/model.onnx reports/release-3c
evaluate_and_record exported/zoo-custom_cnn/model.onnx reports/zoo-custom_cnn

# 5. Speed and the input guard, on the exported files.
for model in exported/release-bin-ensemble/model.onnx exported/release-bin-ensemble/model.int8.onnx exported/release-bin/model.onnx exported/release-3c/model.onnx exported/zoo-custom_cnn/model.onnx; do
    python -m benchmarks.runtime_speed --model "$model" --images "$FULLRES" --threads 1
done
python -m benchmarks.guard_rates --model exported/release-bin-ensemble/model.onnx

# 6. Ship: the runtime's default model (FP32 + INT8 + torch twin) and the three-class model.
for suffix in onnx json pt; do cp "exported/release-bin-ensemble/model.$suffix" "pneumo_runtime/models/default.$suffix"; done
for suffix in onnx json; do cp "exported/release-bin-ensemble/model.int8.$suffix" "pneumo_runtime/models/default.int8.$suffix"; done
for suffix in onnx json pt; do cp "exported/release-3c/model.$suffix" "pneumo_runtime/models/three_class.$suffix"; done

# 7. The model card's figures and failure examples.
mkdir -p docs/model_card/binary docs/model_card/three_class
cp reports/release-bin-ensemble/*.png docs/model_card/binary/
cp reports/release-3c/*.png docs/model_card/three_class/
python scripts/failure_examples.py --predictions reports/release-bin-ensemble/predictions.csv --data "$DATA" --model default --out docs/model_card/failures
