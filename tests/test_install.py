"""A non-editable `pip install .` into a fresh venv works and finds its templates at run time."""

import subprocess
import sysconfig
import venv
from pathlib import Path

import numpy as np

from lgn_compile import evaluate, ir
from lgn_compile.model_file import load_model
from lgn_compile.random_net import random_input_bits
from lgn_compile.verify import python_module_scores

REPO = Path(__file__).resolve().parents[1]


def test_non_editable_install_runs_from_anywhere(tmp_path, model_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # Dependencies (torch, numpy, ...) come from the test's own environment through a plain
    # path entry; the package itself is built and installed from source, not editable.
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(REPO)],
                   check=True, capture_output=True, text=True, timeout=600)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    where = subprocess.run([python, "-c", "import lgn_compile, lgn_train; "
                            "print(lgn_compile.__file__); print(lgn_train.__file__)"],
                           cwd=workdir, capture_output=True, text=True, check=True).stdout.split()
    assert all(path.startswith(site) for path in where), where
    proc = subprocess.run([env_dir / "bin" / "lgn-compile", model_path, "--target", "all",
                           "-o", "out"], cwd=workdir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    model = load_model(model_path)
    out = workdir / "out"
    assert {p.suffix for p in out.iterdir()} == {".v", ".c", ".h", ".py", ".json", ".ys", ".tcl"}
    bits = random_input_bits(0, 100, model.num_inputs)
    scores = python_module_scores(out / f"{model.name}.py", bits)
    assert np.array_equal(scores, evaluate.scores(ir.from_model(model), bits))
    help_text = subprocess.run([env_dir / "bin" / "lgn-train", "--help"], capture_output=True,
                               text=True, cwd=workdir)
    assert help_text.returncode == 0 and "--dataset" in help_text.stdout

