"""The demo path end to end, through the real commands: train -> compile -> verify every backend."""

import subprocess
import sys

import pytest


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small digits model from lgn-train, compiled to every target."""
    work = tmp_path_factory.mktemp("e2e")
    train = run("lgn_train", "--dataset", "digits", "--layers", "300,200", "--epochs", "15",
                "--thresholds", "3", "--seed", "1", "-q", "-o", work / "model.pt")
    assert train.returncode == 0, train.stderr
    compiled = run("lgn_compile", work / "model.pt", "--target", "all", "-o", work / "out", "-q")
    assert compiled.returncode == 0, compiled.stderr
    return work


def test_all_backends_agree_on_digits_under_both_simulators(trained):
    proc = run("lgn_compile", "verify", trained / "model.pt", "--dir", trained / "out",
               "--dataset", "digits")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all backends agree: 8 paths, 360 samples" in proc.stdout
    for path in ("torch discrete", "python (numpy)", "C batch (gcc -march=native)",
                 "C packed bits", "C one-sample", "Verilog (icarus)", "Verilog (verilator)"):
        assert path in proc.stdout


def test_verify_reports_a_tampered_backend(trained):
    """Flip one live gate of the emitted Python: verify must name the mismatch and exit 1."""
    module = trained / "out" / "digits_lgn.py"
    original = module.read_text()
    lines = original.splitlines()
    victim = next(i for i, line in enumerate(lines) if " = x[" in line and " & " in line)
    lines[victim] = lines[victim].replace(" & ", " | ", 1)
    module.write_text("\n".join(lines) + "\n")
    try:
        proc = run("lgn_compile", "verify", trained / "model.pt", "--dir", trained / "out",
                   "--samples", "2000", "--simulators", "none")
    finally:
        module.write_text(original)
    assert proc.returncode == 1
    assert "MISMATCH python (numpy)" in proc.stdout and "backends DISAGREE" in proc.stdout


def test_verify_without_compiled_output_is_a_user_error(trained, tmp_path):
    proc = run("lgn_compile", "verify", trained / "model.pt", "--dir", tmp_path / "missing")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("lgn-compile: error: output directory not found")
