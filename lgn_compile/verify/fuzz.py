"""Differential fuzzing: random nets through every path, compared bit for bit.

A case is one random net (`random_net.fuzz_model_dict(seed)`) and a batch of input
vectors. Its reference is the IR evaluator on the unoptimized graph; against it go the
torch discrete forward, the IR evaluator after each pass preset (networkx passes alone,
and the compiler's `optimize_model`), the emitted Python, the LUT-mapped netlist (techmap),
the compiled C (batch API in one
SIMD mode, on bytes and on packed bits, the one-sample API, and the C encoder when the net
has one) and the emitted
Verilog under each simulator. The backends render the compiler's IR of one preset per
case (cases rotate through -O0, -O1, -O2).

The slow paths are batched: one gcc run builds the C of a whole batch of nets into one
shared library, and one simulation runs a batch of nets side by side under a wrapper
module (`batch_wrapper`). A disagreement is shrunk (`random_net.shrink`) to a small net
that still disagrees on the same path, and saved as a model file.

    report = run_fuzz(10_000, out_dir="build/fuzz")
    python -m lgn_compile.verify.fuzz --cases 10000 --out build/fuzz   # `make fuzz`
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import networkx as nx
import numpy as np

from lgn_compile import evaluate, ir
from lgn_compile.backends.c import SIMD_MODES, emit_c
from lgn_compile.backends.python import emit_python
from lgn_compile.backends.verilog import emit_verilog
from lgn_compile.errors import LgnError
from lgn_compile.gates import full_mask
from lgn_compile.model_file import Model, model_from_dict, save_model
from lgn_compile.passes import PRESETS, optimize_model, run_pipeline
from lgn_compile.random_net import fuzz_model_dict, shrink
from lgn_compile.techmap import lut_map
from lgn_compile.verify import python_module_scores, torch_discrete_scores
from lgn_compile.verify.c_build import (
    CLibrary,
    build_shared_library,
    cross_scores,
    cross_toolchain,
    pack_inputs,
    simd_supported,
)
from lgn_compile.verify.simulate import parse_ports, simulate

MAX_SAMPLES = 600      # > 512, so the widest C word gets a second, partial word
CLASSIFY_SAMPLES = 4   # rows per case through the one-sample C API
VERILOG_SAMPLES = 24   # rows per case through each simulator
WRAPPER = "fuzz_batch"
SIM_BATCH = {"icarus": 100, "verilator": 1000}  # cases per simulation
LUT_SIZES = (4, 6)     # the LUT netlist path maps with K by seed


@dataclass
class Case:
    """One random net, its inputs and the reference scores."""

    seed: int
    model: Model
    record: list[int]           # the generator's choices, for shrinking
    bits: np.ndarray            # uint8 [N, num_inputs]
    features: np.ndarray | None  # float32 [N, F] the bits were encoded from, if an encoder
    preset: int                 # the pass preset whose IR the backends render
    optimized: nx.DiGraph       # that IR
    reference: np.ndarray       # int64 [N, num_classes]

    @property
    def name(self) -> str:
        return self.model.name


@dataclass
class Mismatch:
    seed: int
    path: str
    detail: str


@dataclass
class FuzzReport:
    cases: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    paths: dict[str, int] = field(default_factory=dict)  # path -> cases it checked
    seconds: float = 0.0
    counterexamples: list[Path] = field(default_factory=list)

    def count(self, path: str, cases: int = 1) -> None:
        self.paths[path] = self.paths.get(path, 0) + cases


def make_case(seed: int, name: str | None = None) -> Case:
    """Case `seed`: its net, 1..MAX_SAMPLES input vectors (all-0 and all-1 first), the
    preset its backends render, and the unoptimized IR's scores."""
    raw, record = fuzz_model_dict(seed, name or f"fz{seed}")
    return case_from_model(seed, model_from_dict(raw), record)


def case_from_model(seed: int, model: Model, record: list[int] | None = None) -> Case:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, MAX_SAMPLES + 1))
    features = None
    if model.encoder is not None:
        low, high = model.encoder.thresholds.min() - 1, model.encoder.thresholds.max() + 1
        num_features = model.encoder.thresholds.shape[0]
        features = rng.uniform(low, high, size=(count, num_features)).astype(np.float32)
        features[: count // 4] = np.round(features[: count // 4] * 4) / 4  # exact ties
        bits = model.encoder.encode(features)
    else:
        bits = rng.integers(0, 2, size=(count, model.num_inputs), dtype=np.uint8)
        bits[0], bits[-1] = 0, 1
    graph = ir.from_model(model)
    preset = seed % len(PRESETS)
    optimized, _ = optimize_model(model, PRESETS[preset])  # what lgn-compile renders
    return Case(seed, model, record or [], bits, features, preset, optimized,
                evaluate.scores(graph, bits))


def compare(case: Case, path: str, scores, classes=None, rows=None) -> Mismatch | None:
    """A Mismatch when `scores` (and `classes`, else their argmax) differ from the reference
    on `rows` (default: all)."""
    expected = case.reference if rows is None else case.reference[rows]
    scores = np.asarray(scores, dtype=np.int64).reshape(expected.shape)
    classes = np.argmax(scores, axis=1) if classes is None else np.asarray(classes)
    bad = np.flatnonzero((scores != expected).any(axis=1)
                         | (classes != np.argmax(expected, axis=1)))
    if not len(bad):
        return None
    i = int(bad[0])
    return Mismatch(case.seed, path, f"{len(bad)} of {len(expected)} samples differ; first: "
                    f"expected {expected[i].tolist()} class {int(np.argmax(expected[i]))}, "
                    f"got {scores[i].tolist()} class {int(classes[i])}")


def check_in_process(case: Case, scratch: Path) -> list[Mismatch]:
    """torch discrete forward, the IR after every preset (the networkx passes alone, and
    the compiler's path, which folds on the layer arrays first), and the emitted Python."""
    graph = ir.from_model(case.model)
    results = [("torch discrete", torch_discrete_scores(case.model, case.bits))]
    for level, names in PRESETS.items():
        optimized, _ = run_pipeline(graph, names)
        results.append((f"IR -O{level}", evaluate.scores(optimized, case.bits)))
        optimized, _ = optimize_model(case.model, names)
        results.append((f"IR -O{level} bulk", evaluate.scores(optimized, case.bits)))
    file = scratch / f"{case.name}.py"
    file.write_text(emit_python(case.optimized)[file.name])
    results.append(("python", python_module_scores(file, case.bits)))
    # techmap: the LUT netlist of the rendered IR (K = 4 or 6 by seed)
    mapping = lut_map(case.optimized, LUT_SIZES[case.seed % len(LUT_SIZES)])
    results.append(("LUT netlist", evaluate.scores(mapping.to_ir(), case.bits)))
    return [m for path, scores in results if (m := compare(case, path, scores))]


def check_c(cases: list[Case], simd: str, build_dir: Path) -> list[Mismatch]:
    """One shared library for the whole batch; batch API (bytes and packed bits), one-sample
    API, C encoder."""
    if simd == ARM64:
        return check_arm64(cases, build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = []
    for case in cases:
        for file, text in emit_c(case.optimized, simd=simd).items():
            (build_dir / file).write_text(text)
        sources.append(build_dir / f"{case.name}.c")
    library = build_dir / f"libfuzz_{simd}_{cases[0].seed}.so"
    try:
        build_shared_library(sources[0], library, extra_flags=[str(s) for s in sources[1:]],
                             simd=simd)
    except LgnError:
        if len(cases) == 1:
            raise
        return [m for case in cases for m in _check_c_alone(case, simd, build_dir)]
    mismatches = []
    for case in cases:
        lib = CLibrary(library, case.name, case.model.num_inputs, case.model.num_classes)
        found = [compare(case, f"C {simd}", lib.scores(case.bits)),
                 compare(case, "C packed", lib.scores(pack_inputs(case.bits), packed=True))]
        rows = list(range(min(CLASSIFY_SAMPLES, len(case.bits))))
        one = [lib.classify(case.bits[r]) for r in rows]
        found.append(compare(case, "C one-sample", [s for _, s in one], [c for c, _ in one], rows))
        if case.features is not None:
            found.append(compare(case, f"C {simd} encoder", lib.scores_features(case.features)))
        mismatches += [m for m in found if m]
    return mismatches


def _check_c_alone(case: Case, simd: str, build_dir: Path) -> list[Mismatch]:
    try:
        return check_c([case], simd, build_dir / case.name)
    except LgnError as exc:
        return [Mismatch(case.seed, f"C {simd} build", str(exc))]


def batch_wrapper(modules: list[tuple[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """A Verilog module `fuzz_batch` that runs the nets side by side.

    `modules`: (name, Verilog source) per net, combinational. Its input is the nets'
    inputs concatenated; its `scores` output has, per net, one field per class score and
    one for the class index, all zero-extended to the widest. Returns the wrapper source
    (with an `lgn-ports:` header, so `simulate` drives it like an emitted net) and per net
    (first field, number of classes).
    """
    ports = [parse_ports(source, name) for name, source in modules]
    width = max(max(p.score_width, p.index_width) for p in ports)
    lines, fields, offset, field_no = [], [], 0, 0
    for i, ((name, _), p) in enumerate(zip(modules, ports)):
        lines += [f"    wire [{p.num_classes * p.score_width - 1}:0] s{i};",
                  f"    wire [{p.index_width - 1}:0] c{i};",
                  f"    {name} u{i} (.x(x[{offset + p.num_inputs - 1}:{offset}]), "
                  f".scores(s{i}), .class_idx(c{i}));"]
        parts = [(f"s{i}[{c * p.score_width + p.score_width - 1}:{c * p.score_width}]",
                  p.score_width) for c in range(p.num_classes)] + [(f"c{i}", p.index_width)]
        fields.append((field_no, p.num_classes))
        for signal, bits in parts:
            padded = signal if bits == width else f"{{{{{width - bits}{{1'b0}}}}, {signal}}}"
            lines.append(f"    assign scores[{(field_no + 1) * width - 1}:{field_no * width}] "
                         f"= {padded};")
            field_no += 1
        offset += p.num_inputs
    header = [f"// lgn-ports: num_inputs={offset} num_classes={field_no} score_width={width} "
              "index_width=1 latency=0 reset=none",
              f"module {WRAPPER} (",
              f"    input  wire [{offset - 1}:0] x,",
              f"    output wire [{field_no * width - 1}:0] scores,",
              "    output wire [0:0] class_idx",
              ");",
              "    assign class_idx = 1'b0;"]
    return "\n".join(header + lines + ["endmodule", ""]), fields


def check_verilog(cases: list[Case], simulator: str, build_dir: Path) -> list[Mismatch]:
    """Simulate the batch's nets side by side; VERILOG_SAMPLES rows of each case."""
    build_dir.mkdir(parents=True, exist_ok=True)
    modules = [(case.name, emit_verilog(case.optimized)[f"{case.name}.v"]) for case in cases]
    wrapper, fields = batch_wrapper(modules)
    source = build_dir / f"{WRAPPER}.v"
    source.write_text("\n".join([wrapper] + [text for _, text in modules]))
    rows = [np.arange(VERILOG_SAMPLES) % len(case.bits) for case in cases]
    bits = np.hstack([case.bits[r] for case, r in zip(cases, rows)])
    try:
        scores, _ = simulate(source, WRAPPER, bits, simulator, build_dir / simulator)
    except LgnError as exc:
        if len(cases) == 1:
            return [Mismatch(cases[0].seed, f"Verilog {simulator} build", str(exc))]
        half = len(cases) // 2  # find the net that breaks the build
        return (check_verilog(cases[:half], simulator, build_dir / "a")
                + check_verilog(cases[half:], simulator, build_dir / "b"))
    mismatches = []
    for case, r, (first, num_classes) in zip(cases, rows, fields):
        found = compare(case, f"Verilog {simulator}", scores[:, first:first + num_classes],
                        scores[:, first + num_classes], r)
        if found:
            mismatches.append(found)
    return mismatches


def c_modes() -> list[str]:
    """The C --simd modes this machine can run (and "arm64" where it cross-builds)."""
    return [mode for mode in SIMD_MODES if simd_supported(mode)] + \
        ([ARM64] if cross_toolchain() is None else [])


# --- ARM64 (issue 18): one more C "mode" where aarch64-linux-gnu-gcc and qemu-aarch64 are
# installed: the batch's nets in one static ARM64 program (u64 or NEON v128 words by seed)
# under qemu-aarch64, every entry point (batch on bytes, packed, threaded; one-sample on
# bytes and packed) against the reference.
ARM64 = "arm64"


def check_arm64(cases: list[Case], build_dir: Path) -> list[Mismatch]:
    build_dir.mkdir(parents=True, exist_ok=True)
    files, nets = [], []
    for case in cases:
        for file, text in emit_c(case.optimized, simd=("v128", "u64")[case.seed % 2]).items():
            (build_dir / file).write_text(text)
        files.append(build_dir / f"{case.name}.c")
        nets.append((case.name, case.model.num_inputs, case.model.num_classes))
    try:
        found = cross_scores(files, nets, [case.bits for case in cases])
    except LgnError as exc:
        return [Mismatch(case.seed, "C arm64 build", str(exc)) for case in cases]
    mismatches = [compare(case, f"C arm64 {path}", scores, paths.get(f"{path} class"))
                  for case, paths in zip(cases, found) for path, scores in paths.items()
                  if not path.endswith(" class")]
    return [m for m in mismatches if m]


def run_fuzz(num_cases: int, first_seed: int = 0, batch_size: int = 100,
             simulations: dict[str, int] | None = None, out_dir: str | Path | None = None,
             progress: Callable[[str], None] = print,
             simd_modes: list[str] | None = None) -> FuzzReport:
    """Check `num_cases` random nets (seeds first_seed, first_seed+1, ...) on every path.

    Each batch of `batch_size` cases is one C build, batches rotating through the SIMD
    modes. `simulations` maps a simulator to how many cases share one simulation
    (default: SIM_BATCH; a build costs seconds, Verilator's ~10 s plus the C++ compile).
    `simd_modes`: the C modes batches rotate through (default: all this CPU runs; an
    empty list checks no C, e.g. to spend a run on the simulators).
    Counterexamples are shrunk and saved in `out_dir`.
    """
    simulations = dict(SIM_BATCH if simulations is None else simulations)
    report, start = FuzzReport(), time.perf_counter()
    modes = c_modes() if simd_modes is None else simd_modes
    pending = {simulator: [] for simulator in simulations}
    last_seed = first_seed + num_cases
    for batch_start in range(first_seed, last_seed, batch_size):
        cases = [make_case(seed)
                 for seed in range(batch_start, min(batch_start + batch_size, last_seed))]
        with tempfile.TemporaryDirectory(prefix="lgn-fuzz-") as tmp:
            for case in cases:
                report.mismatches += check_in_process(case, Path(tmp))
            if modes:
                simd = modes[batch_start // batch_size % len(modes)]  # by seed, as chunks
                report.mismatches += check_c(cases, simd, Path(tmp) / "c")
                report.count(f"C {simd}", len(cases))
                report.count("C packed", len(cases))
                report.count("C one-sample", len(cases))
                report.count("C encoder", sum(case.features is not None for case in cases))
        for path in ("torch discrete", "IR -O0/-O1/-O2", "python", "LUT netlist"):
            report.count(path, len(cases))
        report.cases += len(cases)
        for simulator, waiting in pending.items():
            waiting += cases
            if len(waiting) >= simulations[simulator] or report.cases == num_cases:
                with tempfile.TemporaryDirectory(prefix="lgn-fuzz-") as tmp:
                    report.mismatches += check_verilog(waiting, simulator, Path(tmp))
                report.count(f"Verilog {simulator}", len(waiting))
                waiting.clear()
        progress(f"fuzz: {report.cases}/{num_cases} cases, {len(report.mismatches)} "
                 f"mismatches, {time.perf_counter() - start:.0f} s")
    if out_dir is not None:
        for mismatch in _first_per_seed(report.mismatches):
            report.counterexamples.append(save_counterexample(mismatch, Path(out_dir)))
    report.seconds = time.perf_counter() - start
    return report


def run_fuzz_parallel(num_cases: int, first_seed: int = 0, jobs: int = 2, chunk: int = 200,
                      batch_size: int = 100, simulations: dict[str, int] | None = None,
                      out_dir: str | Path | None = None,
                      progress: Callable[[str], None] = print,
                      simd_modes: list[str] | None = None) -> FuzzReport:
    """`run_fuzz` over `jobs` processes: the seeds are cut into chunks of `chunk` cases, each
    checked by `run_fuzz` in a worker; the reports are merged. Same cases, same checks."""
    report, start = FuzzReport(), time.perf_counter()
    last_seed = first_seed + num_cases
    chunk = max(batch_size, chunk - chunk % batch_size)  # whole batches, as in one run
    context = multiprocessing.get_context("spawn")  # no fork of a process that ran torch
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(run_fuzz, min(chunk, last_seed - seed), seed, batch_size,
                               simulations, out_dir, _quiet, simd_modes)
                   for seed in range(first_seed, last_seed, chunk)]
        for future in as_completed(futures):
            part = future.result()
            report.cases += part.cases
            report.mismatches += part.mismatches
            report.counterexamples += part.counterexamples
            for path, count in part.paths.items():
                report.count(path, count)
            progress(f"fuzz: {report.cases}/{num_cases} cases, {len(report.mismatches)} "
                     f"mismatches, {time.perf_counter() - start:.0f} s")
    report.seconds = time.perf_counter() - start
    return report


def _show(line: str) -> None:
    print(line, flush=True)


def _quiet(line: str) -> None:
    """A worker's progress: the parent reports per chunk."""


def _first_per_seed(mismatches: list[Mismatch]) -> list[Mismatch]:
    return list({m.seed: m for m in reversed(mismatches)}.values())


def fails_on(path: str, seed: int) -> Callable[[dict], bool]:
    """Whether a model dict (with case `seed`'s inputs) still disagrees on `path`."""
    def fails(raw: dict) -> bool:
        case = case_from_model(seed, model_from_dict(raw))
        with tempfile.TemporaryDirectory(prefix="lgn-shrink-") as tmp:
            return any(m.path == path for m in _check_path(case, path, Path(tmp)))
    return fails


def _check_path(case: Case, path: str, scratch: Path) -> list[Mismatch]:
    if path.startswith("Verilog"):
        return check_verilog([case], path.split()[1], scratch)
    if path.startswith("C"):
        simd = path.split()[1] if path.split()[1] in c_modes() else "u64"
        return check_c([case], simd, scratch)
    return check_in_process(case, scratch)


def save_counterexample(mismatch: Mismatch, out_dir: Path, budget: int = 200) -> Path:
    """Shrink the failing net of `mismatch` and save it as `<out_dir>/counterexample_<seed>.pt`."""
    case = make_case(mismatch.seed)
    small = shrink(case.record, fails_on(mismatch.path, mismatch.seed), case.name, budget)
    small["meta"]["fuzz"] = {"seed": mismatch.seed, "path": mismatch.path,
                             "detail": mismatch.detail}
    path = out_dir / f"counterexample_{mismatch.seed}.pt"
    save_model(path, small)
    return path


def complement_output_gates(g):
    """A deliberately broken copy of an IR: every gate that drives an output computes its
    complement, so every sample's scores change (when any output is gate-driven). For
    showing that a check bites."""
    g = g.copy()
    drivers = {ir.operands(g, out)[0] for out in ir.outputs(g)}
    for driver in sorted(d for d in drivers if ir.kind(g, d) == ir.GATE):
        attrs = g.nodes[driver]
        ir.set_gate(g, driver, attrs["table"] ^ full_mask(len(attrs["operands"])),
                    attrs["operands"])
    return g


def _choices(parser: argparse.ArgumentParser, what: str, text: str, allowed) -> list[str]:
    """A comma-separated option's names ('none': no names), each one of `allowed`."""
    names = [] if text == "none" else text.split(",")
    unknown = [name for name in names if name not in allowed]
    if unknown:
        parser.error(f"unknown or unsupported {what} {unknown[0]!r} (choose from "
                     f"{', '.join(allowed)}, or none)")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lgn_compile.verify.fuzz",
        description="Differential fuzzing of every backend on random nets (see `make fuzz`).")
    parser.add_argument("--cases", type=int, default=10_000, help="random nets to check")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first net")
    parser.add_argument("--batch", type=int, default=100, help="nets per C build")
    parser.add_argument("--out", default="build/fuzz",
                        help="where shrunk counterexamples are saved as model files")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes (default 1; e.g. the number of cores)")
    parser.add_argument("--chunk", type=int, default=200,
                        help="cases per worker task with --jobs (default 200; larger chunks "
                             "share simulator builds, smaller ones balance the workers)")
    parser.add_argument("--simulators", default=",".join(SIM_BATCH),
                        help="comma-separated simulators to run the Verilog under "
                             f"(default {','.join(SIM_BATCH)}; 'none' checks no Verilog)")
    parser.add_argument("--simd", default=",".join(c_modes()),
                        help="comma-separated C --simd modes the batches rotate through "
                             f"(default: those this CPU runs, {','.join(c_modes())}; 'none' "
                             "checks no C)")
    args = parser.parse_args(argv)
    simulators = _choices(parser, "simulator", args.simulators, SIM_BATCH)
    simd_modes = _choices(parser, "--simd mode", args.simd, c_modes())
    if min(args.jobs, args.cases, args.chunk, args.batch) < 1:
        parser.error("--cases, --jobs, --chunk and --batch must be at least 1")
    simulations = {name: SIM_BATCH[name] for name in simulators}
    if args.jobs == 1:
        report = run_fuzz(args.cases, args.seed, args.batch, simulations, args.out, _show,
                          simd_modes)
    else:
        report = run_fuzz_parallel(args.cases, args.seed, args.jobs, args.chunk, args.batch,
                                   simulations=simulations, out_dir=args.out, progress=_show,
                                   simd_modes=simd_modes)
    print(f"\n{'path':<22} {'cases':>7}")
    for path, count in report.paths.items():
        print(f"{path:<22} {count:>7}")
    print(f"\n{report.cases} cases (seeds {args.seed}..{args.seed + report.cases - 1}), "
          f"{len(report.mismatches)} mismatches, {report.seconds:.0f} s")
    for mismatch in report.mismatches[:20]:
        print(f"MISMATCH seed {mismatch.seed} {mismatch.path}: {mismatch.detail}")
    for path in report.counterexamples:
        print(f"counterexample (shrunk): {path}")
    return 1 if report.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
