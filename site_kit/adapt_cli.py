"""``pneumo-adapt``: write a site model (ONNX + contract) from a shipped or exported one.

    pneumo-adapt --site "Clinic X" --unlabelled site_films/ --out site_model/
    pneumo-adapt --site "Clinic X" --labelled site_labelled/ --out site_model/   # NORMAL/ + PNEUMONIA/, or a CSV
    pneumo-predict --model site_model/model.onnx film.jpeg
    pneumo-adapt study --data ../shared/data/kermany_224 --out runs/site_study  # what the kit gives, measured
    pneumo-adapt curve --data ../shared/data/kermany_224 --out runs/site_curve  # how far an oracle threshold could go

See ``pneumo.site_kit.adapt`` for what each step changes and why.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from pneumo.export.guard.population_fit import add_population_arguments, population_check
from pneumo_runtime.arguments import add_model_argument, add_threads_argument
from pneumo_runtime.batch import expand
from pneumo_runtime.contract import ModelContract
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.inputs import model_input
from pneumo_runtime.json_file import write_json
from pneumo_runtime.model import OnnxModel
from pneumo_runtime.predictor import resolve_model
from pneumo_runtime.torch_twin import torch_twin

from .adapt import SiteAdaptationError, adapt_batchnorm, kit_adaptation, logits_of, prevalence_corrected_candidate, recalibration, site_contract
from .label_shift import MIN_SITE_FILMS

MODEL_NAME = "model"
PARITY_FILMS = 32  # site films the exported graph is checked on against the adapted torch model
BATCHNORM_METHODS = {"kit": "batchnorm_statistics_prevalence_corrected", "corrected": "batchnorm_statistics_prevalence_corrected",
                     "plain": "batchnorm_statistics"}
BATCHNORM_CHOICES = tuple(BATCHNORM_METHODS)
STUDIES = {"study": ".study", "curve": ".operating_curve"}  # subcommands that measure the kit on the official test split


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pneumo-adapt", epilog="What the kit gives at a site, measured on the official test split: pneumo-adapt study --help",
                                     description="Adapt a pneumo model to one site's films: batch-norm statistics "
                                     "from unlabelled films and/or calibration from a small labelled set.")
    parser.add_argument("--site", required=True, help="the site's name, recorded in the model and shown by every front end")
    parser.add_argument("--out", type=Path, required=True, help="folder for model.onnx and model.json")
    add_model_argument(parser, role="the model to adapt: ")
    parser.add_argument("--checkpoint", type=Path, help="its torch weights, for --unlabelled (default: the .pt beside the .onnx; a shipped model's from pneumo-torch-weights)")
    parser.add_argument("--unlabelled", type=Path, help="a folder of the site's films, no labels: batch-norm statistics are re-estimated on them, "
                        "under the kit's rule unless --batchnorm says otherwise")
    parser.add_argument("--batchnorm", choices=BATCHNORM_CHOICES, default="kit",
                        help="kit (default): prevalence-corrected statistics, kept only if a label-free safety check passes (at least "
                        f"{MIN_SITE_FILMS} films); corrected or plain: that adaptation without the check, at the user's risk")
    parser.add_argument("--labelled", type=Path, help="the site's labelled films: a folder with NORMAL/ and PNEUMONIA/, or a CSV path,label[,patient]; "
                        "temperature, threshold and referral cut-off are refitted on them")
    add_threads_argument(parser, meaning="CPU threads (default: all cores)")
    add_population_arguments(parser)
    return parser


def readable_inputs(paths: list[Path], contract) -> tuple[np.ndarray, list[Path]]:
    """Preprocessed films, skipping (and naming) any that cannot be read: one bad file stops nothing."""
    images, kept = [], []
    for path in paths:
        try:
            images.append(model_input(path, contract))
            kept.append(path)
        except PneumoError as exc:
            print(f"pneumo-adapt: skipped {path.name}: {exc}", file=sys.stderr)
    if not images:
        raise SiteAdaptationError("none of the given films could be read")
    return np.stack(images), kept


def labelled_samples(source: Path, task: str) -> list:
    from pneumo.training.data.samples import discover_kermany, read_csv

    if source.suffix.lower() == ".csv":
        return read_csv(source, task)
    return discover_kermany(source.parent, source.name, task)


def adapted_batchnorm(model, films: np.ndarray, contract: ModelContract, how: str) -> dict:
    """The batch-norm step as asked: the kit's rule, or one adaptation without its check."""
    if how == "kit":
        check = kit_adaptation(model, films, contract)
        return {"how": how, "adapted": check.passed, "safety_check": check.to_dict()}
    if how == "corrected":
        check = prevalence_corrected_candidate(model, films, logits_of(model, films), contract)
        return {"how": how, "adapted": True, "safety_check": check.to_dict()}
    adapt_batchnorm(model, films)
    return {"how": how, "adapted": True}


def adapted_graph(base: OnnxModel, checkpoint_path: Path, films: np.ndarray, staged: Path, contract: ModelContract, how: str) -> dict:
    """Batch-norm statistics on the torch twin as asked, a guard bank from the same films, exported and checked against torch."""
    from pneumo.export.contract_builder import model_version
    from pneumo.export.guard.feature_fit import fit_feature_guard
    from pneumo.export.validate import export_checked
    from pneumo.training.checkpoint import load_checkpoint, rebuild_model

    checkpoint = load_checkpoint(checkpoint_path)
    if model_version(checkpoint) != base.contract.model_version.removesuffix("-int8"):
        raise SiteAdaptationError(f"{checkpoint_path.name} holds {model_version(checkpoint)}, not the weights of {base.contract.model_version}")
    loaded = rebuild_model(checkpoint)
    decision = adapted_batchnorm(loaded.model, films, base.contract, how)
    if not decision["adapted"]:
        shutil.copyfile(base.path, staged)
        return {**decision, "guard": None}
    # Half the site's films form the bank, the other half set its cut-off; the pixel checks stay.
    max_distance, guard_module = fit_feature_guard(loaded.model, films[0::2], films[1::2])
    guard = dataclasses.replace(base.contract.guard, max_feature_distance=max_distance)
    _, parity = export_checked(loaded.model, contract, staged, films[:PARITY_FILMS], guard=guard_module)
    return {**decision, "guard": guard, "parity": parity.to_dict()}


def run(args: argparse.Namespace) -> dict:
    if not args.unlabelled and not args.labelled:
        raise SiteAdaptationError("nothing to adapt: give --unlabelled FOLDER, --labelled FOLDER_OR_CSV, or both")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    base_path = resolve_model(args.model)
    base = OnnxModel(base_path, threads=args.threads)  # hash checked like any model
    contract, methods, counts, report = base.contract, [], {}, {"base_model": base.contract.model_version}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as staging_dir:  # nothing half-written is left behind
        staged = Path(staging_dir) / f"{MODEL_NAME}.onnx"
        guard = None
        if args.unlabelled:
            films, kept = readable_inputs(expand([args.unlabelled], recursive=True), contract.preprocess)
            checkpoint = args.checkpoint or torch_twin(base_path)
            if checkpoint is None or not checkpoint.is_file():
                raise SiteAdaptationError(f"batch-norm adaptation needs the torch weights of {base_path.name}: "
                                          'install "pneumo[explain]" for the shipped models, or give --checkpoint')
            method = BATCHNORM_METHODS[args.batchnorm]
            interim = site_contract(contract, args.site, [method], {"unlabelled": len(kept)})
            adapted = adapted_graph(base, checkpoint, films, staged, interim, args.batchnorm)
            guard = adapted.pop("guard")
            report["batchnorm"] = {**adapted, "films": len(kept)}
            if adapted["adapted"]:
                methods.append(method)
            counts["unlabelled"] = len(kept)
        else:
            shutil.copyfile(base_path, staged)
        calibration = None
        if args.labelled:
            samples = labelled_samples(args.labelled, "binary" if len(contract.classes) == 2 else "three_class")
            batch, kept = readable_inputs([s.path for s in samples], contract.preprocess)
            by_path = {s.path: s for s in samples}
            labels = np.array([by_path[p].label for p in kept])
            calibration = recalibration(OnnxModel(staged, verify=False).logits(batch), labels, [by_path[p].patient for p in kept], contract)
            report["calibration"] = {k: calibration[k] for k in ("temperature", "threshold", "threshold_rule")} | {"films": len(kept)}
            methods.append("calibration")
            counts["labelled"] = len(kept)
        from pneumo.export.onnx_export import reseal

        final = reseal(staged, site_contract(contract, args.site, methods, counts, calibration, guard))
        if methods and methods[0].startswith("batchnorm"):  # new batch-norm statistics move every feature: the check is fitted again (reseal kept the old one otherwise)
            report["population_check"] = population_check(staged, args)
        OnnxModel(staged)  # the runtime's own loader, hash check included, accepts it
        for produced in (staged, staged.with_suffix(".json")):
            shutil.move(str(produced), args.out / produced.name)
    report["site_model"] = final.model_version
    write_json(args.out / "adapt_report.json", report)
    return report


def batchnorm_summary(step: dict) -> str:
    """What the batch-norm step did, in one line for the user."""
    reason = step.get("safety_check", {}).get("reason", "")
    if step["how"] == "kit":
        if step["adapted"]:
            return f"adapted to the site's {step['films']} films (prevalence-corrected; safety check passed: {reason})"
        return f"kept the shipped model's, not adapted: {reason}"
    if step["how"] == "corrected":
        return f"adapted (prevalence-corrected) without the kit's check, as asked; the check would say: {reason}"
    return "adapted (plain) without the kit's check, as asked: at a site whose pneumonia share differs from training this can lower specificity"


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    study = argv[0] if argv[:1] and argv[0] in STUDIES else None
    args = None if study else build_parser().parse_args(argv)
    try:
        if study:
            return importlib.import_module(STUDIES[study], __package__).main(argv[1:])
        report = run(args)
    except (PneumoError, ValueError) as exc:  # ValueError: the training side's typed data/checkpoint errors
        print(f"pneumo-adapt{' ' + study if study else ''}: error: {str(exc).strip() or type(exc).__name__}", file=sys.stderr)
        return 2
    if "batchnorm" in report:
        print(f"pneumo-adapt: batch-norm statistics: {batchnorm_summary(report['batchnorm'])}")
    print(f"wrote {args.out / (MODEL_NAME + '.onnx')}: {report['site_model']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
