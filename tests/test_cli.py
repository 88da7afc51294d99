"""The lgn-compile and lgn-train command lines: compiling, and hostile or broken input.

Every bad input gets one line on stderr, exit code 2, no traceback, and nothing written."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from lgn_compile import evaluate, ir
from lgn_compile.cli import main
from lgn_compile.model_file import save_model
from lgn_compile.passes import PRESETS
from lgn_compile.random_net import fuzz_model_dict, random_input_bits, random_model_dict
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
                            "report.json", "synth_random_net.ys", "synth_random_net_vivado.tcl"])
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
    files["empty file"] = tmp_path / "empty.pt"
    files["empty file"].write_bytes(b"")
    files["not a dict"] = tmp_path / "list.pt"
    torch.save([1, 2, 3], files["not a dict"])
    for label, edit in _BROKEN_FIELDS.items():
        raw = random_model_dict(1)
        edit(raw)
        files[label] = tmp_path / f"{label.replace(' ', '_')}.pt"
        torch.save(raw, files[label])
    return files


def _set(path, value):
    """An edit of a model dict: the field at `path` (keys and indices) becomes `value`."""
    def edit(raw):
        target = raw
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value(target[path[-1]]) if callable(value) else value
    return edit


_BROKEN_FIELDS = {
    "wrong operand shape": _set(("discrete", "operands", 0), lambda t: t[:, :1]),
    "wrong table shape": _set(("discrete", "tables", 1), lambda t: t[:, :3]),
    "float operands": _set(("discrete", "operands", 0), lambda t: t.double()),
    "NaN weights": _set(("state_dict", "layers.0.weights"), torch.tensor([0.1, float("nan")])),
    "absurd size": _set(("config", "num_inputs"), 10**12),
    "absurd stride-0 tensor": _set(("discrete", "tables", 0),
                                   torch.zeros(1, 4, dtype=torch.uint8).expand(10**9, 4)),
    "missing tables": _set(("discrete",), {"operands": []}),
    "groups do not divide": _set(("config", "num_classes"), 3),
    "bad name": _set(("config", "name"), "rm -rf /"),
}


EXPECTED_MESSAGES = {
    "truncated": "not a readable torch",
    "random bytes": "not a readable torch",
    "zip not torch": "not a readable torch",
    "other torch file": "not an lgn model file",
    "future version": "unsupported model format version 99",
    "wiring out of range": "operand index out of range",
    "wrong dtype": "tables must be uint8",
    "code-running pickle": "refusing to load objects",
    "empty file": "not a readable torch",
    "not a dict": "not an lgn model file",
    "wrong operand shape": "does not match arity 2",
    "wrong table shape": "tables must be uint8 [20, 4]",
    "float operands": "operands must be an integer tensor",
    "NaN weights": "contains NaN or infinity",
    "absurd size": "'num_inputs' must be an int in [1, ",
    "absurd stride-0 tensor": "refusing an absurd size",
    "missing tables": "missing or invalid 'tables'",
    "groups do not divide": "not divisible into 3 equal class groups",
    "bad name": "must be an ASCII identifier",
}


def test_hostile_model_files_get_one_line_and_exit_2(tmp_path):
    for label, path in _hostile_files(tmp_path).items():
        out = tmp_path / f"out_{label.replace(' ', '_')}"
        code, _, err = run_cli(path, "-o", out)
        assert_user_error(code, err, EXPECTED_MESSAGES[label], str(path))
        assert not out.exists(), label
    assert not (tmp_path / "PWNED").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out_")]


def test_debug_shows_the_traceback(tmp_path):
    path = _hostile_files(tmp_path)["future version"]
    code, _, err = run_cli(path, "-o", tmp_path / "out", "--debug")
    assert code != 0 and "Traceback" in err and "unsupported model format version" in err
    assert not (tmp_path / "out").exists()


def test_unwritable_report_writes_nothing(tmp_path, model_path):
    for report in (tmp_path / "missing_dir" / "report.json", tmp_path):
        code, _, err = run_cli(model_path, "-o", tmp_path / "out", "--report", report)
        assert_user_error(code, err, "cannot write report")
        assert not (tmp_path / "out").exists()
        assert not (tmp_path / "missing_dir").exists()


def test_verify_missing_dataset_files_and_directories(tmp_path, model_path):
    raw = next(r for r, _ in map(fuzz_model_dict, range(100)) if r["config"]["encoder"])
    encoded = tmp_path / "encoded.pt"
    save_model(encoded, raw)
    out = tmp_path / "out"
    assert main([str(encoded), "-t", "python", "-o", str(out), "-q"]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli("verify", encoded, "--dir", out, "--dataset", "mnist",
                           "--data-dir", empty)
    assert_user_error(code, err, "missing dataset file", str(empty))
    code, _, err = run_cli("verify", encoded, "--dir", out, "--dataset", "mnist",
                           "--data-dir", tmp_path / "nowhere")
    assert_user_error(code, err, "does not exist")
    code, _, err = run_cli("verify", model_path, "--dir", tmp_path / "nowhere")
    assert_user_error(code, err, "output directory not found")
    assert sorted(p.name for p in out.iterdir()) == [f"{raw['config']['name']}.py", "report.json"]


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


@pytest.mark.parametrize("flags, fragment", [
    (["-t", "c", "--pipeline", "2"], "--pipeline needs the verilog target"),
    (["-t", "python", "--testbench"], "--testbench needs the verilog target"),
    (["-t", "verilog", "--reset", "async"], "--reset async is the pipeline's reset"),
    (["-t", "verilog", "--simd", "avx2"], "--simd needs the c target"),
    (["-t", "verilog", "--build"], "--build needs the c target"),
    # given at their default values they would still do nothing where they are given
    (["-t", "c", "--counter-inputs", "6"], "--counter-inputs needs the verilog target"),
    (["-t", "c", "--pipeline", "0"], "--pipeline needs the verilog target"),
    (["-t", "python", "--max-fanout", "0"], "--max-fanout needs the verilog target"),
    (["-t", "verilog", "--simd", "auto"], "--simd needs the c target"),
    (["-t", "verilog", "--reset", "sync"], "--reset sync is the pipeline's reset"),
    (["-t", "verilog", "--max-fanout", "4"], "--max-fanout 4 is the pipeline registers'")])
def test_a_flag_for_another_target_or_mode_is_refused(tmp_path, model_path, flags, fragment):
    """A flag that would change nothing in what is emitted is an error, not ignored."""
    code, _, err = run_cli(model_path, *flags, "-o", tmp_path / "o")
    assert_user_error(code, err, fragment)
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
    for option in ("--dir", "--dataset", "--data-dir", "--samples", "--seed", "--simulators",
                   "--formal"):
        assert option in out


def test_deterministic_output(model_path, tmp_path):
    for name in ("a", "b"):
        assert main([str(model_path), "-o", str(tmp_path / name), "-q"]) == 0
    for file in (tmp_path / "a").iterdir():
        text_a = file.read_text().replace(str(tmp_path / "a"), "")
        assert text_a == (tmp_path / "b" / file.name).read_text().replace(str(tmp_path / "b"), "")


# ---- lgn-train: hostile and broken input (in-process: the same run_command path)

def run_train(capsys, *args):
    from lgn_train.cli import main as train_main

    code = train_main([*map(str, args), "-q", "--threads", "1"])
    return code, capsys.readouterr().err


def assert_train_error(code, err, *fragments):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lgn-train: error:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_train_missing_or_corrupt_dataset_files_write_nothing(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "model.pt"
    code, err = run_train(capsys, "--dataset", "mnist", "--data-dir", empty, "-o", out)
    assert_train_error(code, err, "missing dataset file", "train-images-idx3-ubyte")
    code, err = run_train(capsys, "--dataset", "mnist", "--data-dir", tmp_path / "nowhere",
                          "-o", out)
    assert_train_error(code, err, "does not exist")
    code, err = run_train(capsys, "--dataset", "mnist", "-o", out)
    assert_train_error(code, err, "--data-dir")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (corrupt / name).write_bytes(b"\x00\x00\x08\x03" + bytes(10))
    code, err = run_train(capsys, "--dataset", "mnist", "--data-dir", corrupt, "-o", out)
    assert_train_error(code, err, "corrupt", str(corrupt))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt", "empty"]


def test_train_unwritable_or_directory_output_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "plain_file"
    blocker.write_text("x")
    code, err = run_train(capsys, "-o", blocker / "model.pt")
    assert_train_error(code, err, "is not a directory")
    code, err = run_train(capsys, "-o", tmp_path)
    assert_train_error(code, err, "is a directory")
    assert [p.name for p in tmp_path.iterdir()] == ["plain_file"]
    assert blocker.read_text() == "x"


def test_train_resume_from_hostile_files(tmp_path, capsys):
    files = _hostile_files(tmp_path)
    before = set(tmp_path.iterdir())
    for label in ("random bytes", "truncated", "code-running pickle", "future version"):
        code, err = run_train(capsys, "--resume", files[label], "-o", tmp_path / "m.pt")
        assert_train_error(code, err, EXPECTED_MESSAGES[label])
    model = tmp_path / "model.pt"
    save_model(model, random_model_dict(1))
    code, err = run_train(capsys, "--resume", model, "-o", tmp_path / "m.pt")
    assert_train_error(code, err, "not a training checkpoint")
    assert set(tmp_path.iterdir()) == before | {model}
    assert not (tmp_path / "PWNED").exists()


def test_train_nan_and_absurd_settings(tmp_path, capsys):
    out = tmp_path / "model.pt"
    for flag, value, message in (("--lr", "nan", "--lr must be positive"),
                                 ("--tau", "inf", "--tau must be positive"),
                                 ("--thresholds", "100000", "--thresholds must be in"),
                                 ("--layers", "0,10", "positive width")):
        code, err = run_train(capsys, flag, value, "-o", out)
        assert_train_error(code, err, message)
    assert list(tmp_path.iterdir()) == []


def test_train_absurd_layer_size_is_a_user_error(tmp_path, capsys):
    code, err = run_train(capsys, "--layers", "100000000000", "--steps", "1",
                          "-o", tmp_path / "model.pt")
    assert_train_error(code, err, "--layers")
