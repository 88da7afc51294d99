"""The compile job: model file -> IR -> passes -> emitted files + report, written atomically."""

from __future__ import annotations

import json
import sys

from lgn_compile import __version__, ir
from lgn_compile.backends.c import emit_c
from lgn_compile.backends.python import emit_python
from lgn_compile.backends.synth_scripts import synth_scripts
from lgn_compile.backends.verilog import COUNTER_INPUTS, build_verilog, emit_verilog, verilog_report
from lgn_compile.errors import LgnError
from lgn_compile.exports import EXPORTS
from lgn_compile.model_file import Model
from lgn_compile.output import commit, plan_outputs
from lgn_compile.passes import optimize_model
from lgn_compile.report import gate_types, layer_gate_types

BACKENDS = {"verilog": emit_verilog, "c": emit_c, "python": emit_python}
TARGETS = {**BACKENDS, **EXPORTS}  # exports: netlists (BLIF, AIGER, DOT) for other tools
ALL_TARGETS = tuple(BACKENDS)  # what `--target all` means
REPORT_NAME = "report.json"


def expand_targets(names) -> list[str]:
    """Target names ('all' expanded, duplicates dropped), or one LgnError for a bad one."""
    names = [t.strip() for t in names if t.strip()]
    if not names:
        raise LgnError("no target given (choose from all, " + ", ".join(TARGETS) + ")")
    unknown = [t for t in names if t not in TARGETS and t != "all"]
    if unknown:
        raise LgnError(f"unknown target {unknown[0]!r} (choose from all, {', '.join(TARGETS)})")
    return list(dict.fromkeys(t for name in names
                              for t in (ALL_TARGETS if name == "all" else [name])))


# Modules the emitted Python and testbench import, beside the standard library: a model
# named like one of them would shadow it in the output directory.
_EMITTED_IMPORTS = frozenset({"numpy", "cocotb", "cocotb_tools", "find_libpython", "pytest",
                              "lgn_compile", "lgn_train", "torch"})
MAX_NAME_LENGTH = 64  # the name is the stem of every file and symbol emitted


def check_model_name(name: str, targets: list[str]) -> None:
    """Refuse a model name whose emitted files or symbols would collide with others."""
    if len(name) > MAX_NAME_LENGTH:
        raise LgnError(f"model name is {len(name)} characters long; at most {MAX_NAME_LENGTH} "
                       "(it names every emitted file and symbol; rename the model)")
    if "python" in targets and (name in sys.stdlib_module_names or name in _EMITTED_IMPORTS):
        raise LgnError(f"model name {name!r} would make {name}.py shadow the module {name!r} "
                       "that Python code in the output directory imports (rename the model)")
    if "c" in targets and (name.lower() == "lgn" or name.lower().startswith("lgn_")
                           or name.startswith("_")):
        raise LgnError(f"model name {name!r} collides with the C runtime's lgn_/LGN_ names or "
                       "C's reserved _names (rename the model)")


def _merge(files: dict[str, str | bytes], new: dict[str, str | bytes], target: str,
           owner: dict[str, str]) -> None:
    """Add one target's files; two targets writing one file name is refused, not overwritten."""
    for name, content in new.items():
        if name in files:
            raise LgnError(f"the {target} target and the {owner[name]} target both write "
                           f"{name} (the model name makes them collide; rename the model)")
        files[name], owner[name] = content, target


def backend_options(simd: str = "auto", pipeline: int = 0, reset: str = "sync",
                    testbench: bool = False, feature_bits: str | None = None,
                    counter_inputs: int = COUNTER_INPUTS, max_fanout: int = 0) -> dict:
    """`compile_model`'s backend_options from the user's settings (CLI flags or API args)."""
    return {"c": {"simd": simd},
            "verilog": {"pipeline": pipeline, "reset": reset, "testbench": testbench,
                        "feature_bits": feature_bits, "counter_inputs": counter_inputs,
                        "max_fanout": max_fanout}}


def compile_model(model: Model, targets: list[str], pass_names: list[str],
                  source: str = "", backend_options: dict | None = None,
                  synth_report: bool = False, progress=lambda message: None,
                  pnr_device: str | None = None) -> tuple[dict[str, str], dict]:
    """Emit `targets` for the model after running `pass_names`; returns (files, report).

    `backend_options` maps a target to keyword arguments of its emitter (e.g. c: simd);
    `progress` is told each stage as it starts (the CLI prints them with times);
    `pnr_device` (a name in synth.PNR_DEVICES) adds report["pnr"]: the Verilog placed and
    routed on that device (minutes)."""
    check_model_name(model.name, targets)
    if pnr_device is not None:  # the device and the tools are checked before any work
        from lgn_compile.synth import pnr_tools

        if "verilog" not in targets:
            raise LgnError("place and route needs the verilog target")
        pnr_tools(pnr_device)
    progress(f"passes: {', '.join(pass_names) or 'none'} on {model.num_gates} gates")
    optimized, pass_report = optimize_model(model, pass_names)  # validates the result
    files: dict[str, str | bytes] = {REPORT_NAME: ""}
    owner = {REPORT_NAME: "report"}
    design = None  # the Verilog design object: ports, latency, stages
    with ir.bulk_work():  # backends build large dicts and strings too
        for target in targets:
            options = (backend_options or {}).get(target, {})
            progress(f"emitting {target}")
            if target == "verilog":
                emitted, design = build_verilog(optimized, **options)
            else:
                emitted = TARGETS[target](optimized, **options)
            _merge(files, emitted, target, owner)
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
        if synth_report:
            progress("yosys synth_xilinx and synth_ice40 (--synth-report; minutes on big nets)")
        report["verilog"] = verilog_report(design, files[f"{model.name}.v"], model.name,
                                           synth_report)
        if pnr_device is not None:
            progress(f"synthesis, place and route on {pnr_device} (--pnr-report; minutes)")
            report["pnr"] = pnr_summary(design, files[f"{model.name}.v"], model.name,
                                        pnr_device)
        _merge(files, synth_scripts(model.name, sorted(f for f in files if f.endswith(".v")),
                                    model.num_inputs, report["verilog"]["clocked"]),
               "synthesis scripts", owner)
    if any(t == "verilog" or t.startswith("blif") for t in targets):  # hardware targets only:
        report["lut_map"] = lut_map_summary(optimized, progress)  # C/Python stay fast
    del files[REPORT_NAME]
    report["files"] = sorted(files)
    files[REPORT_NAME] = report_json(report)
    return files, report


def pnr_summary(design, source: str, name: str, device: str) -> dict:
    """report.json's `pnr`: the design placed and routed on `device` (synth.pnr_report's
    figures without the tool run times, so that equal runs give equal reports)."""
    from lgn_compile.synth import PNR_DEVICES, pnr_report

    figures = pnr_report(source, design.ports, name, device)
    return {"device_name": device, "family": PNR_DEVICES[device].family,
            **{k: v for k, v in figures.items() if k not in ("synth_s", "pnr_s")}}


LUT_MAP_MAX_GATES = 50_000  # beyond, the report skips the mapping (~10 s at 50k gates, 72 s at 195k)


def lut_map_summary(g, progress=lambda message: None) -> dict:
    """report.json's `lut_map`: LUT count and depth of the logic (gates up to the output
    bits; the popcount head is the Verilog backend's) for K = 4 and 6. No times: the
    report is deterministic."""
    from lgn_compile.techmap import lut_map

    gates = ir.stats(g)["gates"]
    if gates > LUT_MAP_MAX_GATES:
        return {"skipped": f"{gates} gates > {LUT_MAP_MAX_GATES}"}
    progress(f"LUT mapping (K = 4, 6) of {gates} gates")
    summary = {"scope": "logic only: the gates up to the output bits, popcount head not included"}
    for k in (4, 6):
        mapping = lut_map(g, k)
        summary[f"lut{k}"] = {"luts": mapping.num_luts, "depth": mapping.depth}
    return summary


def report_json(report: dict) -> str:
    """report.json's text: strict JSON (no NaN), keys sorted, so equal runs give equal bytes."""
    try:
        return json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:  # the loader guarantees JSON-safe meta: a bug
        raise RuntimeError(f"report is not strict JSON: {exc}") from exc


def write_output_dir(files: dict[str, str | bytes], out_dir, force: bool) -> None:
    """Write all files into out_dir or nothing (see `output.commit`)."""
    commit(plan_outputs(out_dir, force), files)
