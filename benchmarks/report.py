"""The markdown tables and the plot of one ``python -m benchmarks`` run (from its JSON)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pneumo_runtime.json_file import write_json


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header), *("| " + " | ".join(fmt(c) for c in row) + " |" for row in rows), ""]


def machine_line(m: dict) -> str:
    libraries = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v != "not installed")
    return (f"{m['date_utc']} on `{m['hostname']}`: {m['cpu']}, {m['cores']} cores ({', '.join(m['cpu_flags'])}); "
            f"load average at start {', '.join(f'{x:.1f}' for x in m['load_average_at_start'])}; Python {m['python']}; {libraries}; "
            f"commit {m['git_commit']}.")


def headline(sections: dict) -> list[list]:
    rows = []
    inference = sections.get("inference", {}).get("shipped", {}).get("default", {})
    if inference:
        rows.append(["ONNX Runtime FP32 vs PyTorch eager, batch 1 (shipped default)", f"{inference['onnxruntime-fp32']['speedup_vs_pytorch_batch1']:.2f}x"])
        if "onnxruntime-int8" in inference:
            rows.append(["ONNX Runtime INT8 vs FP32, inference alone, batch 1", f"{inference['onnxruntime-int8']['speedup_vs_onnx_fp32_batch1']:.2f}x"])
    e2e = sections.get("end_to_end", {})
    for name, value in e2e.get("ratios", {}).items():
        rows.append([name.replace("_", " "), f"{value:.2f}x"])
    for name, row in e2e.get("predict", {}).items():
        rows.append([f"full-size film end to end p50, {name}", f"{row['end_to_end']['p50_ms']:.1f} ms"])
    for name, row in e2e.get("startup", {}).items():
        rows.append([f"import + model load p50, {name}", f"{row['import_plus_load_ms']['p50_ms'] / 1000:.2f} s"])
    return rows


def inference_rows(section: dict) -> list[list]:
    rows = []
    for group in ("shipped", "architectures"):
        for model, backends in section.get(group, {}).items():
            for backend, r in backends.items():
                rows.append([f"{model}{' (random weights)' if group == 'architectures' else ''}", backend, r["batch1"]["p50_ms"], r["batch1"]["p95_ms"],
                             r["throughput_batch1_img_s"], r["throughput_batch8_img_s"], r["throughput_batch32_img_s"],
                             f"{r['speedup_vs_pytorch_batch1']:.2f}x", r.get("peak_rss_mb"), r["file_mb"]])
    return rows


def write_markdown(report: dict, path: Path) -> None:
    s = report["sections"]
    lines = [f"# Benchmarks{' (quick run: numbers mean nothing)' if report.get('quick') else ''}", "", machine_line(report["machine"]), "",
             f"Command: `{report['command']}`. {report['note'].capitalize()}.", ""]
    if report.get("runs"):  # a merged report: each run's own start and load
        lines += ["Runs merged here (later runs' sections replace earlier ones):", "",
                  *(f"- {r['date_utc']}, load average {r['load_average_at_start'][0]:.1f}: `{r['command']}`" for r in report["runs"]), ""]
    lines += ["## Headline", "", *table(["measure", "value"], headline(s))]
    if "inference" in s and "error" not in s["inference"]:
        lines += ["## Inference alone (batch 1 latency, throughput, memory, size)", "",
                  f"{s['inference']['threads']} threads for both PyTorch and ONNX Runtime; {s['inference']['rounds_batch1']} interleaved rounds at batch 1.", "",
                  *table(["model", "backend", "p50 ms", "p95 ms", "img/s b1", "img/s b8", "img/s b32", "vs PyTorch", "peak RSS MB", "file MB"],
                         inference_rows(s["inference"]))]
    e2e = s.get("end_to_end", {})
    if "predict" in e2e:
        stages = list(next(iter(e2e["predict"].values()))["stages_p50_ms"])
        lines += ["## A full-size film end to end (`Predictor.predict`)", "", f"{e2e['films']} films x {e2e['rounds']} rounds, interleaved.", "",
                  *table(["model, threads", "p50 ms", "p95 ms", *[f"{x} p50" for x in stages]],
                         [[n, r["end_to_end"]["p50_ms"], r["end_to_end"]["p95_ms"], *[r["stages_p50_ms"][x] for x in stages]] for n, r in e2e["predict"].items()])]
        c = e2e["clahe"]
        lines += ["CLAHE per film (ms, p50): on the full-resolution decode "
                  f"{c['full_resolution']['p50_ms']:.2f}, on the reduced-scale decode {c['reduced_decode']['p50_ms']:.2f}, "
                  f"on the 224 px image {c['224px']['p50_ms']:.2f}.", ""]
        lines += table(["`pneumo-predict` over all films", "ms per film (start-up included)", "return code"],
                       [[n, r["ms_per_film_with_startup"], r["returncode"]] for n, r in e2e["cli"].items()])
    x = s.get("explain", {})
    if "captum_gradcam" in x:
        lines += ["## Heatmaps", "", *table(["method", "p50 ms", "p95 ms"], [["Captum Grad-CAM (torch)", x["captum_gradcam"]["p50_ms"], x["captum_gradcam"]["p95_ms"]],
                                                                           ["runtime CAM (onnxruntime)", x["runtime_cam"]["p50_ms"], x["runtime_cam"]["p95_ms"]]]),
                  f"Runtime CAM is {x['runtime_cam_speedup_vs_captum']:.1f}x faster ({x['images']} films x {x['rounds']}, decode included).", ""]
    sv = s.get("serving", {})
    if "demo_api" in sv:
        d, rows = sv["demo_api"], []
        rows += [[f"demo /{k}, one client", d[k]["p50_ms"], d[k]["p95_ms"], "", ""] for k in ("predict", "explain")]
        cc = d["predict_concurrent"]
        rows.append([f"demo /predict, {cc['clients']} clients, {cc['requests']} requests", cc.get("p50_ms"), cc.get("p95_ms"), cc["failures"], cc["requests_per_s"]])
        rest = sv["rest"]
        if rest.get("available"):
            rows.append(["REST /v1/predict, one client", rest["predict"]["p50_ms"], rest["predict"]["p95_ms"], "", ""])
            rc = rest["predict_concurrent"]
            rows.append([f"REST /v1/predict, {rc['clients']} clients", rc.get("p50_ms"), rc.get("p95_ms"), rc["failures"], rc["requests_per_s"]])
        else:
            rows.append(["REST service", rest["note"], "", "", ""])
        lines += ["## Serving (wall time as a client sees it)", "", *table(["path", "p50 ms", "p95 ms", "failures", "requests/s"], rows)]
    b = s.get("batch", {})
    if b and "error" not in b:
        rows = []
        for name, runs in b.items():
            if not isinstance(runs, dict):
                continue
            for label, r in runs.items():
                if isinstance(r, dict):
                    rows.append([name, label, r.get("images_per_s", r.get("note")), r.get("wall_s"), r.get("identical_rows", "")])
        lines += ["## Batch through `pneumo-predict`", "", *table(["images", "run", "images/s", "wall s", "rows identical"], rows)]
    t = s.get("training", {})
    if "train_img_per_s" in t:
        lines += ["## Training throughput (224 px, forward + backward + step)", "", f"batch {t['batch_size']}, {t['steps']} timed steps, {t['threads']} threads.", "",
                  *table(["architecture", "images/s"], [[k, v] for k, v in t["train_img_per_s"].items()])]
    f = s.get("footprint", {})
    if "base_runtime" in f:
        lines += ["## Footprint", "", *table(["what", "MB"], [
            [f"base runtime environment ({f['base_runtime']['distributions']} distributions)", f["base_runtime"]["total_mb"]],
            [f"[train] environment ({f['train']['distributions']} distributions)", f["train"]["total_mb"]],
            ["wheel", f["wheel_mb"]], *[[name, mb] for name, mb in f["models_mb"].items()]])]
    path.write_text("\n".join(lines) + "\n")


def write_plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["sections"]
    figure, axes = plt.subplots(1, 2, figsize=(13, 5))
    rows = inference_rows(s["inference"]) if "inference" in s and "error" not in s["inference"] else []
    if rows:
        labels = [f"{r[0].replace(' (random weights)', '*')}\n{r[1].replace('onnxruntime-', 'ort ')}" for r in rows]
        axes[0].barh(range(len(rows)), [r[2] for r in rows], color=["#999" if r[1] == "pytorch" else "#1f77b4" if "fp32" in r[1] else "#2ca02c" for r in rows])
        axes[0].set_yticks(range(len(rows)), labels, fontsize=6)
        axes[0].set_xscale("log")
        axes[0].set_xlabel("batch-1 latency p50, ms (log; * random weights)")
        axes[0].invert_yaxis()
    predict = s.get("end_to_end", {}).get("predict", {})
    if predict:
        names = list(predict)
        stages = list(predict[names[0]]["stages_p50_ms"])
        left = [0.0] * len(names)
        for stage in stages:
            values = [predict[n]["stages_p50_ms"][stage] for n in names]
            axes[1].barh(names, values, left=left, label=stage)
            left = [a + b for a, b in zip(left, values, strict=True)]
        axes[1].set_xlabel("full-size film, p50 per stage, ms")
        axes[1].legend(fontsize=7)
    m = report["machine"]
    figure.suptitle(f"pneumo benchmarks {m['date_utc'][:10]}, {m['cpu']}, {m['cores']} cores, onnxruntime {m['libraries']['onnxruntime']}, "
                    f"torch {m['libraries']['torch']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def merged(sources: list[Path]) -> dict:
    """Several runs of the same machine as one report: sections of later files win, commands are listed."""
    reports = [json.loads(p.read_text()) for p in sources]
    combined = {**reports[0], "sections": {}}
    combined["command"] = "; ".join(r["command"] for r in reports)
    combined["runs"] = [{"command": r["command"], "date_utc": r["machine"]["date_utc"], "load_average_at_start": r["machine"]["load_average_at_start"]} for r in reports]
    for r in reports:
        combined["sections"].update(r["sections"])
    return combined


if __name__ == "__main__":  # re-render: python -m benchmarks.report A.json [B.json ...] [--out STEM]
    arguments = sys.argv[1:]
    out = Path(arguments.pop(arguments.index("--out") + 1)) if "--out" in arguments else None
    if out is not None:
        arguments.remove("--out")
    sources = [Path(a) for a in arguments]
    data = merged(sources)
    stem = out or sources[0].with_suffix("")
    if out is not None:
        write_json(stem.with_suffix(".json"), data)
    write_markdown(data, stem.with_suffix(".md"))
    write_plot(data, stem.with_suffix(".png"))
