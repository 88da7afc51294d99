"""Differential fuzzing: random nets agree bit for bit on every path.

Fast tier (default run): a hypothesis property over the in-process paths and the C
library, and one batched run of every path (all C SIMD modes, both simulators). Each
harness is shown to bite on a deliberately broken backend and to blame the right net.
Slow tier (`-m slow`, `make fuzz`): 10,000 cases.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from lgn_compile import ir
from lgn_compile.model_file import load_model, model_from_dict, save_model
from lgn_compile.random_net import ReplayedChoices, fuzz_model_dict, generate, model_dicts
from lgn_compile.verify import fuzz

FUZZ_DIR = Path(os.environ.get("LGN_FUZZ_DIR", "build/fuzz"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model_dicts(name="hyp"), st.integers(0, 2**16))
def test_random_nets_agree_in_process_and_in_c(raw, seed):
    """torch, the IR after each preset, the emitted Python and the C (u64) agree; a failing
    net, shrunk by hypothesis, is saved as a model file. `seed` picks the inputs and the
    preset the backends render."""
    case = fuzz.case_from_model(seed, model_from_dict(raw))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            mismatches = (fuzz.check_in_process(case, Path(tmp))
                          + fuzz.check_c([case], "u64", Path(tmp) / "c"))
        assert not mismatches, mismatches
    except Exception:
        save_model(FUZZ_DIR / "hypothesis_counterexample.pt", raw)
        note(f"counterexample saved as {FUZZ_DIR / 'hypothesis_counterexample.pt'}")
        raise


def test_generator_covers_what_trained_nets_rarely_show():
    models = [model_from_dict(fuzz_model_dict(seed)[0]) for seed in range(300)]
    layers = [layer for model in models for layer in model.layers]
    assert {layer.arity for layer in layers} == {2, 3, 4, 5, 6}
    tables2 = {t for layer in layers if layer.arity == 2 for t in layer.table_ints()}
    assert tables2 == set(range(16))
    assert {len(model.layers) for model in models} >= {1, 2, 3, 4, 5, 16}
    assert any(model.encoder is not None for model in models)
    assert any(model.num_classes == 1 for model in models)
    assert any(model.layers[-1].tables.shape[0] == model.num_classes for model in models)
    assert any(model.num_inputs % 2 for model in models)
    constants = [(layer.tables.min(axis=1) == layer.tables.max(axis=1)).any() for layer in layers]
    assert any(constants)
    duplicates = [len(np.unique(np.hstack([layer.operands, layer.tables]), axis=0))
                  < len(layer.tables) for layer in layers]
    assert any(duplicates)
    repeated = [any(len(set(row)) < len(row) for row in layer.operands.tolist())
                for layer in layers]
    assert any(repeated)


def test_seeded_generator_is_reproducible_and_replayable():
    first, record = fuzz_model_dict(42)
    again, _ = fuzz_model_dict(42)
    replayed = generate(ReplayedChoices(record))
    for raw in (again, replayed):
        for a, b in zip(first["discrete"]["tables"] + first["discrete"]["operands"],
                        raw["discrete"]["tables"] + raw["discrete"]["operands"]):
            assert a.equal(b)
    minimal = model_from_dict(generate(ReplayedChoices([])))
    assert minimal.num_gates == 1 and minimal.num_inputs == 1


def test_fast_tier_every_path_agrees(capsys):
    """60 cases: one C build per SIMD mode this machine runs, one simulation per simulator."""
    report = fuzz.run_fuzz(60, first_seed=100_000, batch_size=60 // len(fuzz.c_modes()),
                           simulations={"icarus": 60, "verilator": 60})
    assert report.cases == 60
    assert not report.mismatches, report.mismatches
    for path in ("torch discrete", "IR -O0/-O1/-O2", "python", "LUT netlist", "C one-sample",
                 "C packed", "C encoder", "Verilog icarus", "Verilog verilator",
                 *(f"C {m}" for m in fuzz.c_modes())):
        assert report.paths.get(path), path


def _break_one(monkeypatch, emitter_name, victim):
    """Make fuzz's `emitter_name` render the net called `victim` with its output gates
    complemented."""
    emitter = getattr(fuzz, emitter_name)

    def broken(g, **options):
        if g.graph["name"] == victim:
            g = fuzz.complement_output_gates(g)
        return emitter(g, **options)

    monkeypatch.setattr(fuzz, emitter_name, broken)


def _cases_with_output_gates(count, first_seed=0):
    """Cases whose optimized net has a gate driving an output (so breaking it shows)."""
    cases = (fuzz.make_case(seed) for seed in range(first_seed, first_seed + 200))
    return [case for case in cases
            if any(ir.kind(case.optimized, ir.operands(case.optimized, out)[0]) == ir.GATE
                   for out in ir.outputs(case.optimized))][:count]


@pytest.mark.parametrize("emitter, path", [("emit_c", "C u64"), ("emit_verilog", "Verilog icarus")])
def test_batched_paths_blame_exactly_the_broken_net(monkeypatch, tmp_path, emitter, path):
    cases = _cases_with_output_gates(6)
    victim = cases[3]
    _break_one(monkeypatch, emitter, victim.name)
    if emitter == "emit_c":
        found = fuzz.check_c(cases, "u64", tmp_path)
    else:
        found = fuzz.check_verilog(cases, "icarus", tmp_path)
    assert {m.seed for m in found} == {victim.seed}
    assert path in {m.path for m in found}


def test_a_broken_backend_is_caught_shrunk_and_saved(monkeypatch, tmp_path):
    case = _cases_with_output_gates(1, first_seed=7)[0]
    _break_one(monkeypatch, "emit_python", case.name)
    report = fuzz.run_fuzz(1, first_seed=case.seed, simulations={}, out_dir=tmp_path,
                           progress=lambda line: None)
    assert [m.path for m in report.mismatches] == ["python"]
    [saved] = report.counterexamples
    small = load_model(saved)
    assert small.num_gates < case.model.num_gates
    assert small.meta["fuzz"]["path"] == "python"
    assert fuzz.fails_on("python", case.seed)(torch.load(saved, weights_only=True))


def test_parallel_run_checks_the_same_cases_on_the_same_paths():
    """Chunks in worker processes: every seed once, C modes rotating by seed as in one run."""
    serial = fuzz.run_fuzz(8, first_seed=300, batch_size=2, simulations={},
                           progress=lambda line: None)
    lines = []
    parallel = fuzz.run_fuzz_parallel(8, first_seed=300, jobs=2, chunk=3, batch_size=2,
                                      simulations={}, progress=lines.append)
    assert parallel.cases == 8 and not parallel.mismatches
    assert parallel.paths == serial.paths
    assert lines[-1].startswith("fuzz: 8/8 cases")


@pytest.mark.slow
def test_ten_thousand_cases(capsys):
    """`make fuzz`: prints the count and the wall time; saves shrunk counterexamples."""
    cases = int(os.environ.get("LGN_FUZZ_CASES", "10000"))
    report = fuzz.run_fuzz(cases, out_dir=FUZZ_DIR)
    with capsys.disabled():
        print(f"\nfuzz: {report.cases} cases, {len(report.mismatches)} mismatches, "
              f"{report.seconds:.0f} s; paths: {report.paths}")
        for path in report.counterexamples:
            print(f"counterexample (shrunk): {path}")
    assert report.cases >= cases
    assert not report.mismatches, report.mismatches[:10]
