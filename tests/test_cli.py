"""The lgn-compile command line: compiling, and one-line errors with exit 2 on bad input."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import torch

from lgn_compile import evaluate, ir
from lgn_compile.cli import main
from lgn_compile.passes import PRESETS
from lgn_compile.model_file import save_model
from lgn_compile.random_net import random_input_bits, random_model_dict
from lgn_compile.verify import python_module_scores


def run_cli(*args):
    """Run the real console entry point in a subprocess: exit code, stdout, stderr."""
    proc = subprocess.run([sys.executable, "-m", "lgn_compile", *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def assert_user_error(code, stderr, *fragments):
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lgn-compile: error:"), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_compile_all_targets_writes_files_and_report(model_path, model, tmp_path):
    out = tmp_path / "out"
    assert main([str(model_path), "--target", "all", "-o", str(out), "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["random_net.v", "random_net.c", "random_net.h", "random_net.py",
                            "report.json"])
    report = json.loads((out / "report.json").read_text())
    assert report["optimization"]["passes"] == PRESETS[2]  # the default, -O2
    assert report["optimization"]["before"]["gates"] == model.num_gates
    bits = random_input_bits(3, 200, model.num_inputs)
    assert np.array_equal(python_module_scores(out / "random_net.py", bits),
                          evaluate.scores(ir.from_model(model), bits))


def test_target_selection_and_O0(model_path, model, tmp_path):
    out = tmp_path / "py"
    assert main([str(model_path), "-t", "python", "-O", "0", "-o", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["random_net.py", "report.json"]
    report = json.loads((out / "report.json").read_text())
    assert report["optimization"]["after"]["gates"] == model.num_gates


def test_existing_output_needs_force(model_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run_cli(model_path, "-o", out)
    assert_user_error(code, err, "not empty", "--force")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    code, _, err = run_cli(model_path, "-o", out, "--force", "-t", "python")
    assert code == 0, err
    assert "keep.txt" not in {p.name for p in out.iterdir()}


class _RunsCode:
    """Unpickling this would create a marker file: the loader must never do it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _hostile_files(tmp_path):
    good = random_model_dict(1)
    files = {}
    files["truncated"] = tmp_path / "truncated.pt"
    save_model(files["truncated"], good)
    files["truncated"].write_bytes(files["truncated"].read_bytes()[:300])
    files["random bytes"] = tmp_path / "random.pt"
    files["random bytes"].write_bytes(np.random.default_rng(0).bytes(4096))
    files["zip not torch"] = tmp_path / "notorch.pt"
    with zipfile.ZipFile(files["zip not torch"], "w") as zf:
        zf.writestr("hello.txt", "not a model")
    files["other torch file"] = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, files["other torch file"])
    files["future version"] = tmp_path / "future.pt"
    torch.save({**good, "version": 99}, files["future version"])
    bad_wiring = random_model_dict(1)
    bad_wiring["discrete"]["operands"][1][0, 0] = 10_000
    files["wiring out of range"] = tmp_path / "wiring.pt"
    torch.save(bad_wiring, files["wiring out of range"])
    bad_shape = random_model_dict(1)
    bad_shape["discrete"]["tables"][0] = bad_shape["discrete"]["tables"][0].float()
    files["wrong dtype"] = tmp_path / "dtype.pt"
    torch.save(bad_shape, files["wrong dtype"])
    files["code-running pickle"] = tmp_path / "evil.pt"
    torch.save({"format": "lgn-model", "payload": _RunsCode(str(tmp_path / "PWNED"))},
               files["code-running pickle"], pickle_protocol=2)
    return files


EXPECTED_MESSAGES = {
    "truncated": "not a readable torch model file",
    "random bytes": "not a readable torch model file",
    "zip not torch": "not a readable torch model file",
    "other torch file": "not an lgn model file",
    "future version": "unsupported model format version 99",
    "wiring out of range": "operand index out of range",
    "wrong dtype": "tables must be uint8",
    "code-running pickle": "refusing to load objects",
}


def test_hostile_model_files_get_one_line_and_exit_2(tmp_path):
    for label, path in _hostile_files(tmp_path).items():
        out = tmp_path / f"out_{label.replace(' ', '_')}"
        code, _, err = run_cli(path, "-o", out)
        assert_user_error(code, err, EXPECTED_MESSAGES[label], str(path))
        assert not out.exists(), label
    assert not (tmp_path / "PWNED").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out_")]


def test_missing_file_and_bad_flags(tmp_path, model_path):
    code, _, err = run_cli(tmp_path / "nope.pt")
    assert_user_error(code, err, "model file not found")
    code, _, err = run_cli(model_path, "--target", "vhdl", "-o", tmp_path / "o")
    assert_user_error(code, err, "unknown target 'vhdl'")
    code, _, err = run_cli(model_path, "--passes", "const_fold,magic", "-o", tmp_path / "o")
    assert_user_error(code, err, "unknown pass 'magic'")
    code, _, err = run_cli(model_path, "--frobnicate")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--frobnicate" in err
    assert not (tmp_path / "o").exists()


def test_unwritable_output_location(tmp_path, model_path):
    blocker = tmp_path / "plain_file"
    blocker.write_text("x")
    code, _, err = run_cli(model_path, "-o", blocker / "out")  # parent is a file: unwritable
    assert_user_error(code, err, "cannot create output directory")
    assert blocker.read_text() == "x"


def test_output_path_that_is_a_file(tmp_path, model_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, _, err = run_cli(model_path, "-o", target)
    assert_user_error(code, err, "not a directory")
    assert target.read_text() == "x"


def test_help_explains_every_option():
    code, out, _ = run_cli("--help")
    assert code == 0
    for option in ("--target", "--output", "--force", "-O", "--passes", "--report", "--quiet",
                   "--debug", "verify"):
        assert option in out
    code, out, _ = run_cli("verify", "--help")
    assert code == 0
    for option in ("--dir", "--dataset", "--data-dir", "--samples", "--seed", "--simulators"):
        assert option in out


def test_deterministic_output(model_path, tmp_path):
    for name in ("a", "b"):
        assert main([str(model_path), "-o", str(tmp_path / name), "-q"]) == 0
    for file in (tmp_path / "a").iterdir():
        text_a = file.read_text().replace(str(tmp_path / "a"), "")
        assert text_a == (tmp_path / "b" / file.name).read_text().replace(str(tmp_path / "b"), "")
