"""Hostile and odd use of `lgn-compile` and `lgn-compile verify`, by class (issue 15).

Every refusal is one line on stderr, exit 2, no traceback, and nothing written; every run
that succeeds writes all of its outputs. The loaders' classes (sizes, dtypes, meta, IDX,
checkpoints) are in test_hostile_loaders.py.
"""

from __future__ import annotations

import json
import os
import signal
import stat

import numpy as np
import pytest
import torch

from lgn_compile import output
from lgn_compile.cli import main
from lgn_compile.model_file import save_model
from lgn_compile.passes import PASSES, PRESETS
from lgn_compile.random_net import random_model_dict


def _model(tmp_path, name="net", filename="m.pt", **meta):
    raw = random_model_dict(5, num_inputs=10, layer_sizes=(24, 12), num_classes=3)
    raw["config"]["name"] = name
    raw["meta"].update(meta)
    path = tmp_path / filename
    save_model(path, raw)
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code, err, *fragments):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("lgn-compile: error:") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _leftovers(directory):
    """Staging and backup entries a failed run must not leave (.name.XXXX, .name.old.XXXX)."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# -- class 1: every preset and pass list compiles and prints its summary ---------------------

PASS_LISTS = [["-O", str(level)] for level in PRESETS] + [["--passes", ""]] + [
    ["--passes", name] for name in PASSES if name != "abc"] + [["--passes", "strash,strash"]]


@pytest.mark.parametrize("flags", PASS_LISTS, ids=" ".join)
def test_every_pass_list_compiles_and_summarises(tmp_path, capsys, flags):
    model = _model(tmp_path)
    code, out, err = _run(capsys, model, *flags, "-t", "all,blif", "-o", tmp_path / "out",
                          "--report", tmp_path / "r.json")
    assert code == 0, err
    assert "gates:" in out and "wrote" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert sorted(report["files"] + ["report.json"]) == sorted(
        p.name for p in (tmp_path / "out").iterdir())
    assert (tmp_path / "r.html").exists()


# -- class 3: the report is committed with the outputs, never over an input ------------------

def test_report_over_the_input_model_is_refused(tmp_path, capsys):
    model = _model(tmp_path, filename="m.json")
    before = model.read_bytes()
    for report in (model, tmp_path / "m.html"):  # the report itself, or its .html beside it
        code, _, err = _run(capsys, model, "-o", tmp_path / "out", "--report",
                            report.with_suffix(".json"), "--force")
        _refused(code, err, "input of this run")
        assert model.read_bytes() == before and not (tmp_path / "out").exists()


def test_report_through_a_symlink_to_the_input_is_refused(tmp_path, capsys):
    model = _model(tmp_path)
    (tmp_path / "r.json").symlink_to(model)
    code, _, err = _run(capsys, model, "-o", tmp_path / "out", "--report", tmp_path / "r.json",
                        "--force")
    _refused(code, err, "input of this run")
    assert not (tmp_path / "out").exists()


def test_existing_report_needs_force(tmp_path, capsys):
    model = _model(tmp_path)
    (tmp_path / "r.json").write_text("keep")
    code, _, err = _run(capsys, model, "-o", tmp_path / "out", "--report", tmp_path / "r.json")
    _refused(code, err, "exists", "--force")
    assert (tmp_path / "r.json").read_text() == "keep" and not (tmp_path / "out").exists()
    code, _, err = _run(capsys, model, "-o", tmp_path / "out", "--report", tmp_path / "r.json",
                        "--force", "-q")
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["model"]["name"] == "net"


def test_report_inside_the_output_directory_is_refused(tmp_path, capsys):
    model = _model(tmp_path)
    (tmp_path / "out").mkdir()
    code, _, err = _run(capsys, model, "-o", tmp_path / "out", "--report",
                        tmp_path / "out" / "r.json", "--force")
    _refused(code, err, "inside the output directory")
    assert not any((tmp_path / "out").iterdir())


def test_failing_last_rename_rolls_everything_back(tmp_path, capsys, monkeypatch):
    """The report's rename fails after the output directory was replaced: the previous
    directory comes back and nothing new stays."""
    model = _model(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.txt").write_text("old")
    real_replace = os.replace

    def failing(src, dst):
        if str(dst).endswith("r.html"):
            raise OSError(28, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", failing)
    code, _, err = _run(capsys, model, "-o", out, "--force", "--report", tmp_path / "r.json")
    _refused(code, err, "No space left", "nothing was written")
    assert sorted(p.name for p in out.iterdir()) == ["previous.txt"]
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.html").exists()
    assert _leftovers(tmp_path) == []


# -- class 4: model names that would collide with emitted files or symbols -------------------

@pytest.mark.parametrize("name,targets,fragment", [
    ("run_tb", ["-t", "verilog,python", "--testbench"], "run_tb.py"),
    ("cocotb", ["-t", "python"], "shadow"),
    ("json", ["-t", "python"], "shadow"),
    ("numpy", ["-t", "python"], "shadow"),
    ("lgn", ["-t", "c"], "C runtime"),
    ("LGN", ["-t", "c"], "C runtime"),
    ("lgn_word", ["-t", "c"], "C runtime"),
    ("n" * 65, ["-t", "c"], "at most 64"),
    ("n" * 250, ["-t", "verilog"], "at most 64"),
])
def test_colliding_model_names_are_refused(tmp_path, capsys, name, targets, fragment):
    model = _model(tmp_path, name=name)
    code, _, err = _run(capsys, model, *targets, "-o", tmp_path / "out")
    _refused(code, err, fragment)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_longest_name_compiles(tmp_path, capsys):
    model = _model(tmp_path, name="n" * 64)
    code, _, err = _run(capsys, model, "-t", "all", "--testbench", "-o", tmp_path / "out", "-q")
    assert code == 0, err


# -- class 6: verify on odd directories and flags ---------------------------------------------

@pytest.fixture
def compiled(tmp_path, capsys):
    model = _model(tmp_path)
    code, _, err = _run(capsys, model, "-t", "python", "-o", tmp_path / "out", "-q")
    assert code == 0, err
    return model, tmp_path / "out"


@pytest.mark.parametrize("content", ["{not json", "[]", '{"optimization": 3}',
                                     '{"optimization": {"before": {}}}', "[" * 100000,
                                     '{"optimization": {"before": {"gates": "x"}}}', "\x00\xff"])
def test_verify_ignores_an_odd_report_json(compiled, capsys, content):
    model, out = compiled
    (out / "report.json").write_text(content, errors="surrogateescape")
    code, stdout, err = _run(capsys, "verify", model, "--dir", out, "--samples", 20,
                             "--simulators", "none")
    assert code == 0, err
    assert "report.json not readable" in stdout and "all backends agree" in stdout


@pytest.mark.parametrize("text", ["def scores(:\n", "raise RuntimeError('boom')\n",
                                  "def scores(bits):\n    return [[1]]\n", ""])
def test_verify_reports_a_broken_python_module_in_one_line(compiled, capsys, text):
    model, out = compiled
    (out / "net.py").write_text(text)
    code, _, err = _run(capsys, "verify", model, "--dir", out, "--samples", 5,
                        "--simulators", "none")
    _refused(code, err, "net.py")


@pytest.mark.parametrize("flags,fragment", [
    (["--formal", "--simulators", "icarus"], "--simulators does nothing with --formal"),
    (["--formal", "--samples", "5"], "--samples does nothing with --formal"),
    (["--formal", "--dataset", "digits"], "--dataset does nothing with --formal"),
    (["--dataset", "digits", "--seed", "3"], "--seed does nothing with --dataset"),
    (["--data-dir", "."], "--data-dir does nothing without --dataset")])
def test_verify_flags_that_would_do_nothing(compiled, capsys, flags, fragment):
    model, out = compiled
    code, stdout, err = _run(capsys, "verify", model, "--dir", out, *flags)
    _refused(code, err, fragment)
    assert stdout == ""


def test_verify_samples_limits_a_dataset_check(tmp_path, capsys):
    """--samples N with --dataset checks the test split's first N samples."""
    raw = random_model_dict(3, num_inputs=64, layer_sizes=(40, 20), num_classes=10)
    raw["config"]["encoder"] = {"type": "thermometer", "num_features": 64, "num_thresholds": 1}
    raw["state_dict"]["encoder.thresholds"] = torch.full((64, 1), 7.5)
    save_model(tmp_path / "m.pt", raw)
    assert _run(capsys, tmp_path / "m.pt", "-t", "python", "-o", tmp_path / "out", "-q")[0] == 0
    for flags, count in ((["--samples", "30"], 30), ([], 360)):
        code, stdout, err = _run(capsys, "verify", tmp_path / "m.pt", "--dir", tmp_path / "out",
                                 "--dataset", "digits", "--simulators", "none", *flags)
        assert code == 0, err
        assert f"{count} samples" in stdout and f"{count} samples, identical" in stdout


@pytest.mark.parametrize("flags,fragment", [
    (["--seed", "-1"], "--seed"), (["--samples", str(10**12)], "--samples"),
    (["--samples", "0"], "--samples"), (["--seed", "x"], "--seed"),
    (["--samples", "1e3"], "--samples"), (["--seed", str(2**64)], "--seed")])
def test_verify_flags_out_of_range(compiled, capsys, flags, fragment):
    model, out = compiled
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(model), "--dir", str(out), *flags])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and fragment in err


# -- class 9 (the compile side): odd but legal meta gives a strict, deterministic report ----

def test_odd_meta_gives_strict_json_and_a_page(tmp_path, capsys):
    model = _model(tmp_path, accuracy={"test_discrete": float("nan"), "train_soft": 0.5},
                   tags={"b", "a"}, nested={"k": [1, (2, 3)]})
    for run in ("a", "b"):
        code, _, err = _run(capsys, model, "-t", "python", "-o", tmp_path / run, "-q",
                            "--report", tmp_path / f"{run}.json")
        assert code == 0, err
    text = (tmp_path / "a.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert text == (tmp_path / "b.json").read_text()
    html = (tmp_path / "a.html").read_text()
    assert "train soft" in html and "50.00 %" in html


# -- class 10: output paths that would destroy or escape ------------------------------------

def test_output_directory_holding_the_input_or_the_cwd_is_refused(tmp_path, capsys, monkeypatch):
    model = _model(tmp_path)
    monkeypatch.chdir(tmp_path)
    for target in (".", tmp_path, tmp_path.parent):
        code, _, err = _run(capsys, model, "-o", target, "--force")
        _refused(code, err)
        assert model.exists() and _leftovers(tmp_path) == []


def test_dangling_symlink_output_creates_nothing(tmp_path, capsys):
    model = _model(tmp_path)
    (tmp_path / "link").symlink_to(tmp_path / "missing" / "deeper" / "out")
    code, _, err = _run(capsys, model, "-o", tmp_path / "link")
    _refused(code, err, "symlink")
    assert not (tmp_path / "missing").exists()


def test_symlinked_output_directory_is_replaced_at_its_target(tmp_path, capsys):
    model = _model(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "old.txt").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    code, _, err = _run(capsys, model, "-t", "python", "-o", tmp_path / "link", "--force", "-q")
    assert code == 0, err
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "net.py").exists()
    assert not (tmp_path / "real" / "old.txt").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_writing_leaves_nothing(tmp_path, capsys, monkeypatch, sig):
    """A signal after the first staged file: exit 130, no staging directory, no parents
    created for the output, the previous output untouched."""
    model = _model(tmp_path)
    real_write, calls = output._write, []

    def write_then_signal(path, content, mode):
        real_write(path, content, mode)
        calls.append(path)
        if len(calls) == 1:
            os.kill(os.getpid(), sig)

    monkeypatch.setattr(output, "_write", write_then_signal)
    # Ctrl-C as a terminal delivers it: a shell's background job starts with SIGINT ignored
    # (POSIX), and the tool rightly leaves an inherited ignore alone
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, _, err = _run(capsys, model, "-o", tmp_path / "new" / "deeper" / "out")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130 and "interrupted" in err
    assert not (tmp_path / "new").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(tmp_path, capsys, umask):
    model = _model(tmp_path)
    old = os.umask(umask)
    try:
        code, _, err = _run(capsys, model, "-t", "python", "-o", tmp_path / "out", "-q",
                            "--report", tmp_path / "r.json")
    finally:
        os.umask(old)
    assert code == 0, err
    for path in [*(tmp_path / "out").iterdir(), tmp_path / "r.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o777 & ~umask


def test_empty_and_unknown_targets(tmp_path, capsys):
    model = _model(tmp_path)
    for target, fragment in (("", "no target"), (",", "no target"), ("verilgo", "unknown target")):
        code, _, err = _run(capsys, model, "-t", target, "-o", tmp_path / "out")
        _refused(code, err, fragment)
    assert not (tmp_path / "out").exists()


def test_scores_of_every_pass_list_agree(tmp_path, capsys):
    """The pass lists above are not only accepted: each compiled Python module computes the
    same scores as the unoptimized one."""
    import importlib.util

    model = _model(tmp_path)
    bits = np.random.default_rng(0).integers(0, 2, size=(64, 10), dtype=np.uint8)
    results = []
    for i, flags in enumerate(PASS_LISTS):
        out = tmp_path / f"o{i}"
        assert _run(capsys, model, *flags, "-t", "python", "-o", out, "-q")[0] == 0
        spec = importlib.util.spec_from_file_location(f"net{i}", out / "net.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        results.append(module.scores(bits))
    assert all(np.array_equal(r, results[0]) for r in results)


# -- new-user friction: the emitted encoder states its units and warns on the wrong ones -----

def test_emitted_encode_takes_one_sample_and_warns_on_wrong_units(tmp_path, capsys):
    import importlib.util

    import torch

    raw = random_model_dict(5, num_inputs=12, layer_sizes=(24, 12), num_classes=3)
    raw["config"]["encoder"] = {"type": "thermometer", "num_features": 4, "num_thresholds": 3}
    raw["state_dict"]["encoder.thresholds"] = torch.linspace(30, 220, 12).reshape(4, 3)
    save_model(tmp_path / "m.pt", raw)
    assert _run(capsys, tmp_path / "m.pt", "-t", "python,verilog", "--feature-bits", "8",
                "-o", tmp_path / "out", "-q")[0] == 0
    source = (tmp_path / "out" / "random_net.py").read_text()
    assert "units the model was trained on" in source and "[30, 220]" in source
    assert "[30, 220]" in (tmp_path / "out" / "random_net_features.v").read_text()
    spec = importlib.util.spec_from_file_location("emitted", tmp_path / "out" / "random_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pixels = np.random.default_rng(0).uniform(0, 255, size=(32, 4))
    assert np.array_equal(module.encode(pixels[0]), module.encode(pixels)[0])
    with pytest.raises(ValueError, match="expected features"):
        module.encode(pixels[:, :3])
    with pytest.warns(UserWarning, match="units the model was trained on"):
        module.encode(pixels / 255)


def test_import_output_over_its_input_is_refused(tmp_path, capsys):
    """`lgn-compile import` reads one file and writes another: never the same one."""
    (tmp_path / "sd.pt").write_bytes(b"not read")
    code, _, err = _run(capsys, "import", "--from", "difflogic", tmp_path / "sd.pt", "--force",
                        "--classes", "2", "-o", tmp_path / "sd.pt")
    _refused(code, err, "input of this run")
    assert (tmp_path / "sd.pt").read_bytes() == b"not read"


def test_verify_refuses_fifos_in_the_directory(compiled, capsys):
    """A FIFO in place of an emitted file or report.json must not block verify."""
    model, out = compiled
    (out / "report.json").unlink()
    os.mkfifo(out / "report.json")
    code, stdout, err = _run(capsys, "verify", model, "--dir", out, "--samples", 5,
                             "--simulators", "none")
    assert code == 0 and "report.json not readable" in stdout, err
    (out / "net.py").unlink()
    os.mkfifo(out / "net.py")
    code, _, err = _run(capsys, "verify", model, "--dir", out, "--samples", 5,
                        "--simulators", "none")
    _refused(code, err, "not a regular file")


def test_a_newline_in_a_path_still_gives_one_line(tmp_path, capsys):
    code, _, err = _run(capsys, tmp_path / "no\nsuch.pt", "-o", tmp_path / "out")
    _refused(code, err, "not found")
