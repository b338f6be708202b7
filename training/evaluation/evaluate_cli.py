"""``pneumo-evaluate``: clinical metrics with CIs, calibration, uncertainty and a report folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pneumo_runtime.arguments import add_model_argument
from pneumo_runtime.errors import PneumoError

from ..arguments import add_calibration_flags, add_threads_flag, apply_threads
from ..config import ConfigError
from .evaluate import EvaluationOptions, evaluate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pneumo-evaluate",
        description="Evaluate a pneumonia classifier on a data split and write a report folder "
                    "(research use; not a diagnostic device).",
        epilog="Example: pneumo-evaluate --model runs/RUN/best.pt --data ../shared/data/kermany_224 --split test --out reports/RUN",
    )
    add_model_argument(parser, also=", or a torch checkpoint; several checkpoints: their ensemble (mean probability)", nargs="+", required=True)
    parser.add_argument("--data", required=True, help="Kermany-style root folder or a CSV path,label[,patient]")
    parser.add_argument("--split", default="test", help="sub-folder of --data to evaluate (ignored for a CSV); default test")
    parser.add_argument("--out", required=True, type=Path, help="report folder to write")
    parser.add_argument("--train-data", help="where the model's training data lives now, if not where its config says "
                                             "(its validation split supplies the cut-offs)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="patient-bootstrap resamples for the CIs (default 1000)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True, help="test-time augmentation uncertainty")
    parser.add_argument("--mc-passes", type=int, default=20, help="MC-dropout passes; 0 skips MC dropout (default 20)")
    parser.add_argument("--explain-stats", action="store_true", help="Grad-CAM/attention statistics over the split (slow on CPU)")
    parser.add_argument("--explain-max-images", type=int, default=0, help="explain a seeded random subset of this size (0 = all)")
    parser.add_argument("--max-images", type=int, default=0, help="evaluate a seeded random subset (smoke runs; 0 = all)")
    parser.add_argument("--prevalence", type=float, help="the site's pneumonia prevalence, for PPV and NPV (default: the evaluated films' own)")
    parser.add_argument("--batch-size", type=int, default=32)
    add_threads_flag(parser)
    add_calibration_flags(parser)  # used only where no stored calibration exists (ensembles of checkpoints)
    parser.add_argument("--seed", type=int, default=0, help="seed for bootstrap, MC dropout and subsets")
    return parser


def options_from(args: argparse.Namespace) -> EvaluationOptions:
    if args.bootstrap < 0 or args.mc_passes < 0 or args.batch_size < 1:
        raise ConfigError("--bootstrap and --mc-passes must be >= 0 and --batch-size >= 1")
    return EvaluationOptions(
        split=args.split, n_bootstrap=args.bootstrap, seed=args.seed, batch_size=args.batch_size, tta=args.tta,
        mc_passes=args.mc_passes, train_data=args.train_data, threshold_rule=args.threshold_rule,
        threshold_target=args.threshold_target, referral_rate=args.referral_rate, explain_stats=args.explain_stats,
        explain_max_images=args.explain_max_images, max_images=args.max_images, prevalence=args.prevalence,
    )


def headline(metrics: dict) -> str:
    free = metrics["threshold_free"]
    text = f"AUC {free['auc_roc']['value']:.3f}"
    point = metrics.get("at_threshold", {}).get("operating_point")
    if point:
        text += (f"; at threshold {point['threshold']:.3f}: sensitivity {point['sensitivity']['value']:.3f}, "
                 f"specificity {point['specificity']['value']:.3f}, accuracy {point['accuracy']['value']:.3f}")
    else:
        text += f"; accuracy {metrics['multiclass']['accuracy']['value']:.3f}"
    site = metrics.get("site")
    if site:
        shown = {name: "n/a" if site[name]["value"] is None else f"{site[name]['value']:.3f}" for name in ("ppv", "npv")}  # None: no call of that kind
        text += f"; at prevalence {site['prevalence']:.2f}: PPV {shown['ppv']}, NPV {shown['npv']}"
        if "operating_point" in site:
            text += f"; operating point {site['operating_point']['verdict'].split(':')[0]}"
    return text


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        apply_threads(args.threads)
        metrics = evaluate(args.model, args.data, args.out, options_from(args))
    except PneumoError as exc:  # every user error derives from it
        print(f"pneumo-evaluate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pneumo-evaluate: interrupted", file=sys.stderr)
        return 130
    print(f"{metrics['data']['split']}: {headline(metrics)}; report in {args.out / 'report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
