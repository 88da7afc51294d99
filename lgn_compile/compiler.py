"""The compile job: model file -> IR -> passes -> emitted files + report, written atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from lgn_compile import __version__, ir
from lgn_compile.backends.c import emit_c
from lgn_compile.backends.python import emit_python
from lgn_compile.backends.synth_scripts import synth_scripts
from lgn_compile.backends.verilog import emit_verilog, verilog_report
from lgn_compile.errors import LgnError
from lgn_compile.exports import EXPORTS
from lgn_compile.model_file import Model
from lgn_compile.passes import optimize_model
from lgn_compile.report import gate_types, layer_gate_types

BACKENDS = {"verilog": emit_verilog, "c": emit_c, "python": emit_python}
TARGETS = {**BACKENDS, **EXPORTS}  # exports: netlists (BLIF, AIGER, DOT) for other tools
REPORT_NAME = "report.json"


def compile_model(model: Model, targets: list[str], pass_names: list[str],
                  source: str = "", backend_options: dict | None = None,
                  synth_report: bool = False) -> tuple[dict[str, str], dict]:
    """Emit `targets` for the model after running `pass_names`; returns (files, report).

    `backend_options` maps a target to keyword arguments of its emitter (e.g. c: simd)."""
    optimized, pass_report = optimize_model(model, pass_names)  # validates the result
    files = {}
    with ir.bulk_work():  # backends build large dicts and strings too
        for target in targets:
            files.update(TARGETS[target](optimized, **(backend_options or {}).get(target, {})))
    report = {
        "lgn_compile_version": __version__,
        "model": {"name": model.name, "source": source, "num_inputs": model.num_inputs,
                  "num_classes": model.num_classes, "layers": len(model.layers),
                  "meta": model.meta},
        "targets": list(targets),
        "optimization": pass_report,
        "gate_types": {"before": layer_gate_types(model), "after": gate_types(optimized)},
    }
    if "verilog" in targets:  # pipeline latency, and yosys figures with synth_report
        report["verilog"] = verilog_report(files[f"{model.name}.v"], model.name, synth_report)
        files.update(synth_scripts(model.name, sorted(f for f in files if f.endswith(".v")),
                                   model.num_inputs, report["verilog"]["clocked"]))
    report["files"] = sorted(files)
    files[REPORT_NAME] = json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"
    return files, report


def write_output_dir(files: dict[str, str | bytes], out_dir: Path, force: bool) -> None:
    """Write all files into out_dir or nothing: build a sibling temp dir, then rename it."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise LgnError(f"output path exists and is not a directory: {out_dir}")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise LgnError(f"output directory {out_dir} is not empty (use --force to replace it)")
    parent = out_dir.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    except OSError as exc:
        raise LgnError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from exc
    try:
        for name, content in files.items():
            if isinstance(content, bytes):
                (staging / name).write_bytes(content)
            else:
                (staging / name).write_text(content)
        os.chmod(staging, 0o755)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=parent))
            os.replace(out_dir, old / "previous")
            os.replace(staging, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise LgnError(f"cannot write output directory {out_dir}: {exc.strerror or exc}") from exc
