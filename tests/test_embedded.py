"""examples/embedded on a Cortex-M under QEMU: the bare-metal program classifies real digits
test samples with the one-sample API (Cortex-M4 on mps2-an386, a Cortex-M0+ build on the
microbit board) and every sample's scores equal the Python reference's; a mutation of the
one-sample path is caught there; the host build agrees too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "embedded"
MISSING = [tool for tool in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(tool) is None]
needs_cortex_m = pytest.mark.skipif(bool(MISSING), reason=f"Cortex-M toolchain: "
                                    f"{' and '.join(MISSING)} not installed")


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A small DLGN trained briefly on digits (~70 %; uniform init keeps its gates from
    folding into wires, as a few epochs of the residual init do)."""
    path = tmp_path_factory.mktemp("embedded") / "digits.pt"
    subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--layers",
                    "300,200", "--epochs", "5", "--init", "uniform", "--thresholds", "3", "-q",
                    "-o", str(path)],
                   check=True, cwd=ROOT)
    return path


def make(build: Path, model: Path, *targets: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    # QEMU's semihosting console writes to stderr: one stream, in order.
    return subprocess.run(["make", "-s", "-C", str(EXAMPLE), f"MODEL={model}", f"BUILD={build}",
                           f"PYTHON={sys.executable}", "COUNT=12", *targets],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          timeout=600, check=False)


def assert_all_agree(result: subprocess.CompletedProcess, runs: int) -> None:
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("differing from the reference: 0 of 12 samples") == runs
    assert len(re.findall(r"class \d+, label \d+, scores equal the reference", result.stdout)) \
        == 12 * runs
    assert "DIFFER" not in result.stdout


@needs_cortex_m
def test_cortex_m_classifies_like_the_reference(digits_model, tmp_path):
    result = make(tmp_path, digits_model, "run-qemu")
    assert_all_agree(result, 2)
    counts = [int(n) for n in re.findall(r"instructions per inference: (\d+)", result.stdout)]
    assert len(counts) == 2 and all(n > 1000 for n in counts)  # M4, then M0+
    assert len(re.findall(r"stack per inference: \d+ bytes", result.stdout)) == 2
    assert not (EXAMPLE / "model").exists() and not list(EXAMPLE.glob("*.elf"))  # out of tree


@needs_cortex_m
def test_mutated_one_sample_path_is_caught_under_qemu(digits_model, tmp_path):
    """Every gate of the one-sample program (lgn_pairs) sees its first operand inverted:
    the program on the Cortex-M4 reports the samples whose scores changed and exits 1."""
    assert make(tmp_path, digits_model, str(tmp_path / "model" / "samples.h")).returncode == 0
    (c_file,) = (tmp_path / "model").glob("*.c")
    source = c_file.read_text()
    first_operand = "(work[a / 32] >> (a % 32) << 31 >> 31)"
    assert source.count(first_operand) == 1 and "lgn_pairs(" in source
    c_file.write_text(source.replace(first_operand, "(~work[a / 32] >> (a % 32) << 31 >> 31)"))
    result = make(tmp_path, digits_model, "run-m4")
    assert result.returncode != 0
    assert "SCORES DIFFER FROM THE REFERENCE" in result.stdout


def test_host_build_agrees(digits_model, tmp_path):
    assert_all_agree(make(tmp_path, digits_model, "run"), 1)
