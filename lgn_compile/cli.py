"""Command line: `lgn-compile MODEL --target ... -o DIR` and `lgn-compile verify MODEL --dir DIR`.

User errors (LgnError, bad flags) print one line on stderr and exit 2; `--debug` shows the
traceback instead. Verification that finds a disagreement exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from lgn_compile import __version__
from lgn_compile.errors import LgnError

TARGET_CHOICES = ("verilog", "c", "python", "all")


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _compile_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="lgn-compile",
        description="Compile a trained logic gate network (model.pt from lgn-train) to "
                    "Verilog, C and Python that compute exactly the discretized network. "
                    "Run `lgn-compile verify --help` for checking emitted files.",
        epilog="example: lgn-compile model.pt --target verilog -o out/")
    p.add_argument("model", help="model file written by lgn-train (format lgn-model v1)")
    p.add_argument("-t", "--target", action="append", metavar="TARGET",
                   help="what to emit: verilog, c, python or all (repeat or comma-separate; "
                        "default: all)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="output directory, written atomically (default: <model name>_out)")
    p.add_argument("--force", action="store_true",
                   help="replace the output directory if it exists and is not empty")
    level = p.add_mutually_exclusive_group()
    level.add_argument("-O", dest="opt_level", type=int, choices=(0, 1, 2), default=1,
                       help="optimization preset: 0 = no passes, 1/2 = constant folding and "
                            "dead-gate elimination to a fixpoint (default: 1)")
    level.add_argument("--passes", metavar="LIST",
                       help="comma-separated passes to run to a fixpoint instead of a preset "
                            "(available: const_fold, dead_gates)")
    p.add_argument("--report", metavar="PATH",
                   help="also write the compile report (report.json) to PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.add_argument("--version", action="version", version=f"lgn-compile {__version__}")
    return p


def _verify_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="lgn-compile verify",
        description="Check that the files emitted for a model (Python, C, Verilog) compute "
                    "exactly the model's discrete forward pass: the torch discrete forward, "
                    "the IR reference, the Python module, the C library (gcc) and the "
                    "Verilog under Icarus and Verilator (cocotb) must give identical class "
                    "scores. Exits 0 when all agree, 1 on any disagreement.")
    p.add_argument("model", help="the model file the directory was compiled from")
    p.add_argument("--dir", required=True, metavar="DIR",
                   help="directory written by `lgn-compile MODEL -o DIR`")
    p.add_argument("--dataset", metavar="NAME",
                   help="check on this dataset's test split (e.g. digits), encoded with the "
                        "model's own encoder; default: random input bits")
    p.add_argument("--data-dir", metavar="DIR", help="directory holding dataset files")
    p.add_argument("--samples", type=int, default=1000, metavar="N",
                   help="random input vectors when no dataset is given (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    p.add_argument("--simulators", default="icarus,verilator", metavar="LIST",
                   help="HDL simulators to run the Verilog under (icarus, verilator; "
                        "'none' skips simulation; default: both)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["verify"]:
        args = _verify_parser().parse_args(argv[1:])
        command = _verify
    else:
        args = _compile_parser().parse_args(argv)
        command = _compile
    try:
        return command(args)
    except LgnError as exc:
        if args.debug:
            raise
        print(f"lgn-compile: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lgn-compile: interrupted", file=sys.stderr)
        return 130


def _targets(values: list[str] | None) -> list[str]:
    names = [t.strip() for v in (values or ["all"]) for t in v.split(",") if t.strip()]
    unknown = [t for t in names if t not in TARGET_CHOICES]
    if unknown:
        raise LgnError(f"unknown target {unknown[0]!r} (choose from {', '.join(TARGET_CHOICES)})")
    if "all" in names:
        return ["verilog", "c", "python"]
    return list(dict.fromkeys(names))


def _compile(args) -> int:
    from lgn_compile.compiler import REPORT_NAME, compile_model, write_output_dir
    from lgn_compile.model_file import load_model
    from lgn_compile.passes import PRESETS, parse_pass_list

    targets = _targets(args.target)
    pass_names = parse_pass_list(args.passes) if args.passes is not None else PRESETS[args.opt_level]
    start = time.perf_counter()
    model = load_model(args.model)
    out_dir = Path(args.output or f"{model.name}_out")
    files, report = compile_model(model, targets, pass_names, source=str(args.model))
    write_output_dir(files, out_dir, args.force)
    if args.report:
        try:
            Path(args.report).write_text(files[REPORT_NAME])
        except OSError as exc:
            raise LgnError(f"cannot write report {args.report}: {exc.strerror or exc}") from exc
    if not args.quiet:
        _print_compile_summary(report, out_dir, time.perf_counter() - start)
    return 0


def _print_compile_summary(report: dict, out_dir: Path, seconds: float) -> None:
    opt = report["optimization"]
    before, after = opt["before"], opt["after"]
    print(f"lgn-compile: {report['model']['name']} ({report['model']['num_inputs']} inputs, "
          f"{report['model']['num_classes']} classes) in {seconds:.2f} s")
    print(f"  passes: {', '.join(opt['passes']) or 'none'} ({len(opt['rounds'])} rounds)")
    print(f"  gates:  {before['gates']} -> {after['gates']}   depth: {before['depth']} -> "
          f"{after['depth']}   inverters: {after['inverters']}")
    for name in report["files"] + ["report.json"]:
        print(f"  wrote   {out_dir / name}")


def _verify(args) -> int:
    from lgn_compile.model_file import load_model
    from lgn_compile.random_net import random_input_bits
    from lgn_compile.verify import SIMULATORS, check_backends

    simulators = [] if args.simulators.strip() == "none" else \
        [s.strip() for s in args.simulators.split(",") if s.strip()]
    unknown = [s for s in simulators if s not in SIMULATORS]
    if unknown:
        raise LgnError(f"unknown simulator {unknown[0]!r} (choose from {', '.join(SIMULATORS)})")
    out_dir = Path(args.dir)
    if not out_dir.is_dir():
        raise LgnError(f"output directory not found: {out_dir} (run lgn-compile first)")
    model = load_model(args.model)
    labels = None
    if args.dataset:
        bits, labels = _dataset_test_bits(model, args.dataset, args.data_dir)
        source = f"{args.dataset} test split ({len(bits)} samples)"
    else:
        if args.samples < 1:
            raise LgnError("--samples must be at least 1")
        bits = random_input_bits(args.seed, args.samples, model.num_inputs)
        source = f"{len(bits)} random input vectors (seed {args.seed})"
    print(f"lgn-compile verify: {model.name} on {source}")
    start = time.perf_counter()
    result = check_backends(model, out_dir, bits, simulators,
                            progress=lambda msg: print(f"  running {msg}", flush=True))
    _print_verify_summary(model, out_dir, result, labels, time.perf_counter() - start)
    return 0 if result.all_agree else 1


def _dataset_test_bits(model, dataset: str, data_dir: str | None):
    """The dataset's test split, encoded with the model's own encoder (as in training)."""
    from lgn_train.data import load_dataset

    if model.encoder is None:
        raise LgnError("the model has no encoder, so raw dataset features cannot be encoded; "
                       "verify on random vectors instead (omit --dataset)")
    split_seed = model.meta.get("split_seed", model.meta.get("seed", 0))
    data = load_dataset(dataset, data_dir=data_dir, seed=split_seed)
    features, labels = data.test_features, data.test_labels
    if features.shape[1] != model.encoder.thresholds.shape[0]:
        raise LgnError(f"dataset {dataset} has {features.shape[1]} features but the model's "
                       f"encoder expects {model.encoder.thresholds.shape[0]}")
    return model.encoder.encode(features), np.asarray(labels)


def _print_verify_summary(model, out_dir: Path, result, labels, seconds: float) -> None:
    print(f"\n  {'path':<22} {'samples':>8} {'mismatches':>11} {'accuracy':>9}")
    rows = [("IR reference", result.reference, np.argmax(result.reference, axis=1), 0)]
    rows += [(r.backend, r.scores, r.classes, r.mismatches) for r in result.results]
    for name, scores, classes, mismatches in rows:
        accuracy = f"{np.mean(classes == labels):.2%}" if labels is not None else "-"
        print(f"  {name:<22} {len(scores):>8} {mismatches:>11} {accuracy:>9}")
    accuracy = model.meta.get("accuracy", {})
    if accuracy:
        shown = ", ".join(f"{k} {v:.2%}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in accuracy.items())
        print(f"\n  training accuracy: {shown}")
    report_file = out_dir / "report.json"
    if report_file.exists():
        opt = json.loads(report_file.read_text())["optimization"]
        print(f"  gates: {opt['before']['gates']} before passes, {opt['after']['gates']} after "
              f"({', '.join(opt['passes']) or 'no passes'}); depth {opt['after']['depth']}")
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
