"""Synthesis scripts written beside the emitted Verilog: the yosys script runs and its
netlist is proven equal to the Verilog it came from; the Vivado script names that design."""

import json
import re
import subprocess

import pytest

from lgn_compile.compiler import compile_model, write_output_dir
from lgn_compile.model_file import model_from_dict
from lgn_compile.passes import PRESETS
from lgn_compile.random_net import random_model_dict
from lgn_compile.synth import yosys_executable

NAME = "random_net"


def compiled(tmp_path, pipeline=0, seed=4, max_fanout=0):
    model = model_from_dict(random_model_dict(seed, num_inputs=10, layer_sizes=(30, 20, 8),
                                              num_classes=2))
    files, _ = compile_model(model, ["verilog", "python"], PRESETS[2], backend_options={
        "verilog": {"pipeline": pipeline, "max_fanout": max_fanout}})
    write_output_dir(files, tmp_path / "out", force=False)
    return tmp_path / "out", files


def yosys(script, cwd):
    return subprocess.run([yosys_executable(), "-q", "-s", script], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def equivalence(directory, netlist):
    """yosys miter + SAT: exit 0 when the netlist computes the emitted module's outputs."""
    (directory / "eq.ys").write_text("\n".join([
        f"read_verilog {NAME}.v", f"rename {NAME} gold", f"read_verilog {netlist}",
        f"rename {NAME} gate", "proc", "miter -equiv -flatten -make_assert gold gate miter",
        "hierarchy -top miter", "sat -verify -prove-asserts miter", ""]))
    return yosys("eq.ys", directory).returncode


def test_yosys_script_maps_to_luts_and_the_netlist_is_equivalent(tmp_path):
    out, files = compiled(tmp_path)
    assert f"synth_{NAME}.ys" in files and f"synth_{NAME}_vivado.tcl" in files
    proc = yosys(f"synth_{NAME}.ys", out)
    assert proc.returncode == 0, proc.stderr
    stat = (out / f"{NAME}_stat.txt").read_text()
    luts = int(re.search(r"(\d+)\s+\$lut", stat)[1])
    assert luts > 0 and "$_DFF" not in stat
    assert (out / f"{NAME}_netlist.json").stat().st_size > 0
    assert equivalence(out, f"{NAME}_netlist.v") == 0
    # the proof can fail: flip one bit of the first LUT constant in the netlist
    netlist = (out / f"{NAME}_netlist.v").read_text()
    match = re.search(r"(\d+)'h([0-9a-f]+) >>", netlist)
    flipped = format(int(match[2], 16) ^ 1, "x")
    (out / "broken.v").write_text(netlist[:match.start(2)] + flipped + netlist[match.end(2):])
    assert equivalence(out, "broken.v") != 0


def test_pipelined_design_synthesizes_with_its_registers(tmp_path):
    out, files = compiled(tmp_path, pipeline=1)
    assert yosys(f"synth_{NAME}.ys", out).returncode == 0
    assert re.search(r"\d+\s+\$_S?DFF", (out / f"{NAME}_stat.txt").read_text())
    assert "create_clock" in files[f"synth_{NAME}_vivado.tcl"]


def test_register_copies_survive_synthesis(tmp_path):
    """--max-fanout's copies are kept: yosys ends with exactly one flip-flop per copied bit
    more than when the keep attributes are removed (then it merges the copies back)."""
    out, files = compiled(tmp_path, pipeline=1, max_fanout=2)
    source = files[f"{NAME}.v"]
    copies = sum(int(m[1] or 0) + 1 for m in re.finditer(
        r"^\s*\(\* keep \*\) reg (?:\[(\d+):0\] )?\w+_f\d+;", source, re.MULTILINE))

    def flip_flops(verilog: str) -> int:
        (out / "ff.v").write_text(verilog)
        (out / "ff.ys").write_text(f"read_verilog ff.v\nsynth -flatten -top {NAME}\n"
                                   "tee -q -o ff_stat.json stat -json\n")
        assert yosys("ff.ys", out).returncode == 0
        cells = json.loads((out / "ff_stat.json").read_text())["design"]["num_cells_by_type"]
        return sum(n for cell, n in cells.items() if "DFF" in cell)

    assert copies > 0
    assert flip_flops(source) - flip_flops(source.replace("(* keep *) ", "")) == copies


@pytest.mark.parametrize("pipeline", [0, 2])
def test_vivado_script_reads_every_emitted_verilog_file_and_names_the_top(tmp_path, pipeline):
    _, files = compiled(tmp_path, pipeline=pipeline)
    tcl = files[f"synth_{NAME}_vivado.tcl"]
    read = re.findall(r"^read_verilog (\S+)$", tcl, re.MULTILINE)
    assert read == sorted(name for name in files if name.endswith(".v"))
    assert re.search(rf"^synth_design -top {NAME} -part \$part", tcl, re.MULTILINE)
    clocked = bool(re.search(r"input\s+wire\s+clk", files[f"{NAME}.v"]))
    assert ("create_clock" in tcl) == bool(pipeline) == clocked
