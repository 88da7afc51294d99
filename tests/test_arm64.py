"""ARM64: the emitted C cross-compiled with aarch64-linux-gnu-gcc and run under qemu-aarch64
(user mode): every entry point (batch on bytes, on packed bits, threaded; one sample on
bytes and packed bits) in 64-bit (u64) and 128-bit NEON words (v128, and auto, which picks
NEON) equals the reference on random nets. More cases: `make fuzz` (C mode "arm64")."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from lgn_compile import evaluate, ir
from lgn_compile.backends.c import emit_c
from lgn_compile.model_file import _validate
from lgn_compile.random_net import fuzz_model_dict, random_input_bits
from lgn_compile.verify.c_build import ARM64_CC, cross_scores, cross_toolchain

pytestmark = pytest.mark.skipif(cross_toolchain() is not None,
                                reason=f"ARM64 cross toolchain: {cross_toolchain()}")

MODES = ("u64", "v128", "auto")
SAMPLES = 300  # past two 128-sample words, a partial third


def check_against_reference(graphs, bits, tmp_path, simd_of):
    files, nets = [], []
    for graph in graphs:
        name = graph.graph["name"]
        for file, text in emit_c(graph, simd=simd_of(name)).items():
            (tmp_path / file).write_text(text)
        files.append(tmp_path / f"{name}.c")
        nets.append((name, graph.graph["num_inputs"], graph.graph["num_classes"]))
    for graph, rows, found in zip(graphs, bits, cross_scores(files, nets, bits)):
        expected = evaluate.scores(graph, rows)
        for path, got in found.items():
            want = np.argmax(expected, axis=1) if path.endswith("class") else expected
            assert np.array_equal(got, want), f"{graph.graph['name']}: {path}"


def test_fuzz_slice_equals_reference(tmp_path):
    """A slice of the fuzz generator's nets (every arity, constants, encoders, odd shapes),
    the compiler's -O2 IR, each in one of the modes, all in one program."""
    from lgn_compile.passes import PRESETS, run_pipeline

    graphs, bits = [], []
    for seed in range(12):
        raw = fuzz_model_dict(seed, name=f"fuzz{seed}_{MODES[seed % 3]}")[0]
        graph = ir.from_model(_validate(raw))
        graphs.append(run_pipeline(graph, PRESETS[2])[0] if seed % 2 else graph)
        bits.append(random_input_bits(seed, SAMPLES, graph.graph["num_inputs"]))
    check_against_reference(graphs, bits, tmp_path, lambda name: name.rsplit("_", 1)[1])


@pytest.mark.parametrize("simd, word_bits", [("u64", 64), ("v128", 128), ("auto", 128)])
def test_word_width_on_arm64(simd, word_bits, tmp_path):
    """v128 and auto give NEON's 128-bit words on ARM64 without -m flags; u64 64-bit."""
    from lgn_compile.random_net import random_model_dict

    graph = ir.from_model(_validate(random_model_dict(1, num_inputs=8, layer_sizes=(8,),
                                                      num_classes=2)))
    for file, text in emit_c(graph, simd=simd).items():
        (tmp_path / file).write_text(text)
    macros = subprocess.run([ARM64_CC, "-O2", "-dM", "-E", "-I", str(tmp_path), "-include",
                             "random_net.h", "-x", "c", "/dev/null"], capture_output=True,
                            text=True, check=True).stdout
    assert f"#define RANDOM_NET_WORD_BITS {word_bits}\n" in macros


def test_fuzz_arm64_check_bites(tmp_path):
    """fuzz's ARM64 check (`make fuzz` runs it as C mode "arm64") reports a net whose
    output gates were complemented, on every entry point, and passes the intact ones."""
    from lgn_compile.verify import fuzz

    cases = [fuzz.make_case(seed) for seed in range(300, 304)]
    broken = next(case for case in cases
                  if any(ir.kind(case.optimized, ir.operands(case.optimized, out)[0]) == ir.GATE
                         for out in ir.outputs(case.optimized)))
    broken.optimized = fuzz.complement_output_gates(broken.optimized)
    found = fuzz.check_c(cases, fuzz.ARM64, tmp_path)
    assert {m.seed for m in found} == {broken.seed}
    assert {m.path for m in found} == {f"C arm64 {path}" for path in
                                       ("scores", "scores packed", "scores mt", "classify",
                                        "classify packed")}
