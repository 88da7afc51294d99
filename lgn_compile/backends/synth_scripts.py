"""Synthesis scripts for the emitted Verilog: a yosys script and a Vivado Tcl script.

Written next to `<name>.v` whenever the Verilog target is emitted, so the netlist can go
straight into an FPGA/ASIC flow: `yosys -s synth_<name>.ys` or
`vivado -mode batch -source synth_<name>_vivado.tcl`. Like the backends, this only
renders templates (templates/synth_*.j2).
"""

from __future__ import annotations

from lgn_compile import __version__
from lgn_compile.backends import render

VIVADO_PART = "xc7a100tcsg324-1"  # Artix-7 100T: in Vivado's free WebPACK edition
CLOCK_PERIOD_NS = 10.0  # pipelined designs: the clock the timing report is checked at
LUT_SIZE = 6


def synth_scripts(top: str, verilog_files: list[str], num_inputs: int,
                  clocked: bool) -> dict[str, str]:
    """File name -> script for the module `top`, read from `verilog_files` (in order)."""
    yosys, vivado = f"synth_{top}.ys", f"synth_{top}_vivado.tcl"
    context = {"top": top, "files": verilog_files, "version": __version__,
               "num_inputs": num_inputs, "clocked": clocked}
    return {
        yosys: render("synth_yosys.ys.j2", script=yosys, lut_size=LUT_SIZE, **context),
        vivado: render("synth_vivado.tcl.j2", script=vivado, part=VIVADO_PART,
                       clock_period_ns=CLOCK_PERIOD_NS, **context),
    }
