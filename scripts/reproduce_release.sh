#!/usr/bin/env bash
# Rebuilds the shipped models and every figure in MODEL_CARD.md, docs/experiments/ and the README's model zoo:
# training, calibration, ablations, export, evaluation on the official test split, benchmarks.
#
#   bash scripts/reproduce_release.sh [KERMANY_224_DIR] [FULLRES_SAMPLE_DIR]
#   WORKERS=4 bash scripts/reproduce_release.sh     # data-loader processes per run (default 0)
#
# Time: about 48 hours on 2 CPU cores, under an hour on one GPU (pneumo-train uses CUDA when it
# is there, with mixed precision). The runs named gpu-* were trained on a lent H200 GPU with these
# very commands (the earlier release-* runs on the 2 CPU cores); their weights travelled back as
# FP16, so a rerun matches them to seed-noise, not bit for bit.
#
# Nothing here chooses anything on test: epochs, ensemble members, temperatures and thresholds
# come from the patient-grouped validation split inside train; test is only evaluated, after export.
set -euo pipefail
DATA=${1:-../shared/data/kermany_224}
FULLRES=${2:-../shared/data/kermany_fullres_sample}
export OMP_NUM_THREADS=1

train() {  # name config [extra flags...]; an interrupted (or finished) run resumes instead
    local name=$1 config=$2; shift 2
    if [[ -f runs/$name/last.pt ]]; then
        pneumo-train --resume "runs/$name" --threads 1
    else
        pneumo-train --config "$config" --data "$DATA" --threads 1 --num-workers "${WORKERS:-0}" --out "runs/$name" "$@"
    fi
}

evaluate_and_record() {  # model.onnx report_dir: evaluate this very file on test, then store the figures in its contract
    pneumo-evaluate --model "$1" --data "$DATA" --split test --out "$2" --mc-passes 0 --threads 1
    pneumo-export --record-test-metrics "$1" --test-metrics "$2/metrics.json"
}

# 1. Training (each calibrates its best.pt on validation at the end). Every binary run shares
#    release-bin's validation split (--split-seed 42), every three-class run release-3c's, so
#    runs can be combined on a clean validation split. Runs of the earlier 5-epoch (binary) and
#    4-epoch (three-class) recipe, then of the current 10- and 8-epoch recipe (configs/release/).
BIN=configs/release/binary.yaml TRI=configs/release/three_class.yaml
train release-bin $BIN --epochs 5
train release-bin-s7 $BIN --seed 7 --split-seed 42 --epochs 6
train release-bin-s11 $BIN --seed 11 --split-seed 42 --epochs 5
train release-3c $TRI --epochs 4
for seed in 1 2 3 4; do
    train gpu-bin-s$seed $BIN --seed $seed --split-seed 42 --epochs 5
    train gpu-3c-s$seed $TRI --seed $seed --split-seed 42 --epochs 4
done
train gpu-bin-e10 $BIN
train gpu-3c-e8 $TRI
for seed in 1 2 3 4; do
    train gpu-bin-e10-s$seed $BIN --seed $seed --split-seed 42
    train gpu-3c-e8-s$seed $TRI --seed $seed --split-seed 42
done
train gpu-bin-i288 $BIN --epochs 5 --input-size 288   # input-size ablation (validation only)
train ablation-noclahe-e5 $BIN --epochs 5 --split-seed 42 --no-clahe   # CLAHE ablation, full length (validation only)
train zoo-custom_cnn configs/experiments/custom_cnn.yaml --epochs 3 --warmup-epochs 0.3

# 1b. Combinations, greedy on the shifted-validation AUC (docs/experiments/2026-12-01-release-ten-epoch-ensemble.md):
#     weight averages (across epochs, across seeds), the previous release's two-run ensemble, and
#     the ensembles that ship, each chosen from every run of its task.
combine() { python -m pneumo.training.combine "${@:3}" --combine "$1" --data "$DATA" --out "runs/$2" --threads 2; }
combine weights swa-release-bin runs/release-bin/epoch_0{2,3,4,5}.pt
combine weights soup-release-bin-seeds runs/release-bin{,-s7}/best.pt
combine logits release-bin-ensemble runs/release-bin{,-s7,-s11}/best.pt --min-gain 0.0005
combine logits release-bin-ensemble-e10 runs/release-bin{,-s7,-s11}/best.pt runs/gpu-bin-{s1,s2,s3,s4,e10,e10-s1,e10-s2,e10-s3,e10-s4}/best.pt --min-gain 0.0005
combine logits release-3c-ensemble runs/release-3c/best.pt runs/gpu-3c-{s1,s2,s3,s4,e8,e8-s1,e8-s2,e8-s3,e8-s4}/best.pt --min-gain 0.0005

# 1c. Field of view (docs/experiments/2026-11-30-field-of-view.md; validation only, neither run ships): the
#     binary ensemble continued for 3 epochs with the film corners hidden, at two learning rates,
#     and the corner-reliance check of the shipped ensemble, as it is and masked at inference.
train fov-bin-ensemble-e10 configs/experiments/field_of_view.yaml --init-from runs/release-bin-ensemble-e10/best.pt
train fov-bin-ensemble-e10-lr1e-4 configs/experiments/field_of_view.yaml --init-from runs/release-bin-ensemble-e10/best.pt --lr 0.0001
mkdir -p reports
python -m pneumo.training.studies.corner_reliance runs/release-bin-ensemble-e10/best.pt --data "$DATA" --out reports/shortcuts.json --threads 2
python -m pneumo.training.studies.corner_reliance runs/release-bin-ensemble-e10/best.pt --ellipse-mask 1.0 --data "$DATA" --out reports/shortcuts-masked.json --threads 2

# 1d. Corner swap (docs/experiments/2026-11-30-corner-swap.md): the binary ensemble continued for 3 epochs with
#     half of the training images wearing another class's film corners, its corner check, and the
#     control run (the same continuation without the swap; an explanation, never a candidate).
train corner-swap configs/release/corner_swap.yaml --init-from runs/release-bin-ensemble-e10/best.pt
train corner-swap-control configs/release/corner_swap.yaml --init-from runs/release-bin-ensemble-e10/best.pt --corner-swap 0
python -m pneumo.training.studies.corner_reliance runs/corner-swap/best.pt runs/corner-swap-control/best.pt --data "$DATA" --out reports/shortcuts-corner-swap.json --threads 2

# 1e. Three-class corner swap (docs/experiments/2026-12-01-three-class-corner-swap.md): the three-class ensemble
#     continued the same way, and the corner check of the start point, the kept epoch and epoch 3.
train 3c-corner-swap configs/release/three_class_corner_swap.yaml --init-from runs/release-3c-ensemble/best.pt
python -m pneumo.training.studies.corner_reliance runs/release-3c-ensemble/best.pt runs/3c-corner-swap/best.pt runs/3c-corner-swap/epoch_03.pt --data "$DATA" --out reports/shortcuts-3c-corner-swap.json --threads 2

# 1f. Half-resolution member (docs/experiments/2026-12-01-half-resolution.md; validation only, it did not
#     join): one run that sees 112 px, the three-member ensemble with the shipped two, and the
#     corner check with its seam control on it, the shipped models and their start points.
train half-res configs/experiments/half_resolution.yaml
combine logits half-res-ensemble runs/corner-swap/best.pt runs/half-res/best.pt --min-gain 0.0005
python -m pneumo.training.studies.corner_reliance runs/half-res/best.pt runs/corner-swap/best.pt runs/release-bin-ensemble-e10/best.pt runs/3c-corner-swap/best.pt runs/release-3c-ensemble/best.pt --data "$DATA" --out reports/seam-check.json --threads 2

# 2. Ablations, validation split only (docs/experiments/2026-11-25-ablations.md).
python -m pneumo.training.studies.ablations --config configs/release/binary.yaml --data "$DATA" --out runs/ablations --threads 2

# 3. Export (parity with torch, INT8 with its validation AUC check, input guard, torch twin).
for name in corner-swap release-bin-ensemble-e10 release-bin-ensemble release-bin 3c-corner-swap release-3c-ensemble release-3c zoo-custom_cnn; do
    quantize=(); [[ $name == release-bin* || $name == corner-swap ]] && quantize=(--quantize int8)
    pneumo-export --to onnx --checkpoint "runs/$name/best.pt" --out "exported/$name" --guard-xrays "$FULLRES" "${quantize[@]}"
done

# 4. The official test split, once per shipped file (and the earlier releases, for the card's history rows).
evaluate_and_record exported/corner-swap/model.onnx reports/corner-swap
evaluate_and_record exported/corner-swap/model.int8.onnx reports/corner-swap-int8
evaluate_and_record exported/release-bin-ensemble-e10/model.onnx reports/release-bin-ensemble-e10
evaluate_and_record exported/release-bin-ensemble-e10/model.int8.onnx reports/release-bin-ensemble-e10-int8
evaluate_and_record exported/release-bin-ensemble/model.onnx reports/release-bin-ensemble
evaluate_and_record exported/release-bin-ensemble/model.int8.onnx reports/release-bin-ensemble-int8
evaluate_and_record exported/release-bin/model.onnx reports/release-bin
evaluate_and_record exported/release-bin/model.int8.onnx reports/release-bin-int8
evaluate_and_record exported/3c-corner-swap/model.onnx reports/3c-corner-swap
evaluate_and_record exported/release-3c-ensemble/model.onnx reports/release-3c-ensemble
evaluate_and_record exported/release-3c/model.onnx reports/release-3c
evaluate_and_record exported/zoo-custom_cnn/model.onnx reports/zoo-custom_cnn

# 5. Speed and the input guard, on the exported files.
python -m benchmarks.end_to_end --films "$FULLRES" --models exported/corner-swap/model.onnx exported/corner-swap/model.int8.onnx exported/release-bin-ensemble-e10/model.onnx exported/release-bin-ensemble-e10/model.int8.onnx exported/release-bin/model.onnx exported/3c-corner-swap/model.onnx exported/release-3c-ensemble/model.onnx exported/zoo-custom_cnn/model.onnx
python -m pneumo.export.guard.rates --model exported/corner-swap/model.onnx

# 6. Ship: the runtime's default model (FP32 + INT8) and the three-class model; their torch twins go
# to the weights distribution. Then both versions change (pneumo_runtime/__init__.py and
# weights/pneumo_torch_weights/__init__.py, and the [explain] pin in pyproject.toml).
for suffix in onnx json; do cp "exported/corner-swap/model.$suffix" "pneumo_runtime/models/default.$suffix"; done
for suffix in onnx json; do cp "exported/corner-swap/model.int8.$suffix" "pneumo_runtime/models/default.int8.$suffix"; done
for suffix in onnx json; do cp "exported/3c-corner-swap/model.$suffix" "pneumo_runtime/models/three_class.$suffix"; done
cp exported/corner-swap/model.pt weights/pneumo_torch_weights/default.pt
cp exported/3c-corner-swap/model.pt weights/pneumo_torch_weights/three_class.pt

# 7. The model card's figures and failure examples.
mkdir -p docs/model_card/binary docs/model_card/three_class
cp reports/corner-swap/*.png docs/model_card/binary/
cp reports/3c-corner-swap/*.png docs/model_card/three_class/
python scripts/failure_examples.py --predictions reports/corner-swap/predictions.csv --data "$DATA" --model default --out docs/model_card/failures
