"""Hostile input at the loaders (issue 15), one class of attack per section: whatever a
model file, import file, checkpoint or dataset file holds, loading gives a result or one
LgnError line, never a traceback, a hang, a torch warning, code execution, or memory
beyond what the file holds (or a documented limit). The compile/verify side is in
tests/test_hostile_cli.py."""

import copy
import gzip
import json
import math
import os
import signal
import struct
import warnings
import zipfile
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lgn_compile import ir
from lgn_compile import model_file as mf
from lgn_compile.errors import LgnError
from lgn_compile.evaluate import scores
from lgn_compile.importers import from_difflogic, from_torchlogix, import_file
from lgn_compile.model_file import (Encoder, EncoderRangeWarning, load_model, model_from_dict,
                                    save_model)
from lgn_compile.random_net import random_model_dict


def small_model(**changes) -> dict:
    raw = random_model_dict(1, num_inputs=5, layer_sizes=(6, 4), num_classes=2)
    raw.update(changes)
    return raw


@contextmanager
def deadline(seconds: int = 20):
    """A loader that blocks (a FIFO, /dev/zero) fails the test instead of hanging it."""
    def expire(*_):
        raise AssertionError(f"still running after {seconds} s: the loader blocks")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_line_error(call, *fragments) -> str:
    """`call()` raises exactly one LgnError of one line (naming `fragments`), and torch
    prints no warnings on the way."""
    with warnings.catch_warnings(record=True) as caught, deadline():
        warnings.simplefilter("always")
        with pytest.raises(LgnError) as info:
            call()
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    for fragment in fragments:
        assert fragment in message, message
    assert not [w for w in caught if "torch" in str(w.filename)], [str(w.message) for w in caught]
    return message


def rezip(source, target, extra=(), compression=zipfile.ZIP_STORED):
    """Copy a torch archive member by member (optionally compressed, with extra members)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", compression) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        for name, content in extra:
            dst.writestr(f"{src.namelist()[0].split('/')[0]}/{name}", content)


# --- root cause 5: memory is bounded by what the file holds ---------------------------

def test_a_deflated_member_declaring_far_more_than_the_file_is_refused_before_loading(
        tmp_path, monkeypatch):
    plain = tmp_path / "plain.pt"
    save_model(plain, small_model())
    bomb = tmp_path / "bomb.pt"
    rezip(plain, bomb, extra=[("data/99", bytes(32 << 20))], compression=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < (1 << 20)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was reached"))
    one_line_error(lambda: load_model(bomb), "zip bomb")
    one_line_error(lambda: import_file("difflogic", bomb), "zip bomb")


def test_a_stored_archive_of_the_same_content_still_loads(tmp_path):
    plain = tmp_path / "plain.pt"
    save_model(plain, small_model())
    stored = tmp_path / "stored.pt"
    rezip(plain, stored)
    assert load_model(stored).num_gates == 10


def test_a_storage_declaring_more_bytes_than_its_record_is_refused(tmp_path):
    path = tmp_path / "small.pt"
    torch.save({"a": torch.zeros(4)}, path)
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        pickled = archive.read(name)
    # the storage's element count, BININT1 4, becomes LONG1 2**38 (a 1 TiB storage)
    assert pickled.count(b"cpuq\x06K\x04") == 1
    hostile = pickled.replace(b"cpuq\x06K\x04", b"cpuq\x06\x8a\x08" + (1 << 38).to_bytes(8, "little"))
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "huge.pt", "w") as dst:
        for n in src.namelist():
            dst.writestr(n, hostile if n == name else src.read(n))
    one_line_error(lambda: load_model(tmp_path / "huge.pt"), "huge.pt")


def test_files_over_the_size_limit_are_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_model(path, small_model())
    monkeypatch.setattr(mf, "MAX_FILE_BYTES", path.stat().st_size - 1)
    one_line_error(lambda: load_model(path), "refusing files over")
    sparse = tmp_path / "sparse.pt"
    with open(sparse, "wb") as f:
        f.truncate(1 << 40)  # 1 TiB of holes: must not be read
    monkeypatch.undo()
    one_line_error(lambda: load_model(sparse), "refusing files over")


def test_input_counts_no_data_backs_are_refused_and_backed_ones_kept():
    raw = small_model()
    raw["config"]["num_inputs"] = 10_000_000
    one_line_error(lambda: model_from_dict(raw), "num_inputs")
    raw["config"]["num_inputs"] = raw["config"]["layers"][0]["in_dim"] = 1_000_000
    one_line_error(lambda: model_from_dict(raw), "no data backs")
    raw["config"]["num_inputs"] = raw["config"]["layers"][0]["in_dim"] = mf.MAX_UNBACKED_INPUTS
    assert model_from_dict(raw).num_inputs == mf.MAX_UNBACKED_INPUTS


@pytest.mark.parametrize("weight", [
    torch.zeros(3, 1 << 10),  # rank 10: a 2**10 x 2**10 Hadamard matrix, and beyond MAX_ARITY
    torch.zeros(1, 1).expand(3, 1 << 40),  # stride 0: 8 TiB once copied
], ids=["rank-10", "stride-0"])
def test_torchlogix_weights_are_bounded_before_any_allocation(weight):
    state = {"0.weight": weight, "0.connections.indices": torch.zeros(2, 3, dtype=torch.int64)}
    one_line_error(lambda: from_torchlogix(state, num_classes=1, parametrization="light"))


# --- root cause 12: only regular files are read ----------------------------------------

@pytest.fixture
def odd_paths(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {"fifo": fifo, "device": "/dev/zero", "directory": tmp_path}


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_non_regular_paths_are_refused_without_blocking(odd_paths, kind):
    from lgn_train.data import read_idx
    from lgn_train.export import load_checkpoint

    path = odd_paths[kind]
    for loader in (load_model, lambda p: import_file("torchlogix", p), load_checkpoint,
                   lambda p: read_idx(__import__("pathlib").Path(p))):
        one_line_error(lambda: loader(path), str(path))


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_saved_models_get_the_umask_s_permissions(tmp_path, mask):
    previous = os.umask(mask)
    try:
        save_model(tmp_path / "model.pt", small_model())
    finally:
        os.umask(previous)
    assert (tmp_path / "model.pt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no staging file left


# --- root cause 11: dtypes, quantized and pickled content ------------------------------

def _operands(dtype):
    raw = small_model()
    raw["discrete"]["operands"][0] = raw["discrete"]["operands"][0].to(dtype)
    return raw


def _thresholds(dtype):
    raw = random_model_dict(1, num_inputs=6, layer_sizes=(6, 4), num_classes=2)
    raw["config"]["encoder"] = {"type": "thermometer", "num_features": 3, "num_thresholds": 2}
    raw["state_dict"]["encoder.thresholds"] = torch.ones(3, 2, dtype=dtype)
    return raw


def _state(value):
    return small_model(state_dict={"x": value})


HOSTILE_TENSORS = {
    "complex-operands": lambda: _operands(torch.complex64),
    "float-operands": lambda: _operands(torch.float32),
    "bool-operands": lambda: _operands(torch.bool),
    "complex-thresholds": lambda: _thresholds(torch.complex128),
    "inexact-int-thresholds": lambda: _thresholds(torch.int64) | {"state_dict": {
        "encoder.thresholds": torch.full((3, 2), 2**24 + 1, dtype=torch.int64)}},
    "inexact-float64-thresholds": lambda: _thresholds(torch.float64) | {"state_dict": {
        "encoder.thresholds": torch.full((3, 2), 0.1, dtype=torch.float64)}},
    "quantized": lambda: _state(torch.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.qint8)),
    "sparse": lambda: _state(torch.eye(3).to_sparse()),
    "float8": lambda: _state(torch.ones(3).to(torch.float8_e4m3fn)),
    "complex-in-state": lambda: _state(torch.ones(2, dtype=torch.complex64)),
}


@pytest.mark.parametrize("make", HOSTILE_TENSORS.values(), ids=HOSTILE_TENSORS.keys())
def test_tensors_of_other_dtypes_and_layouts_are_one_line_in_memory_and_on_disk(tmp_path, make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # making a quantized tensor warns; loading must not
        raw = make()
        torch.save(raw, tmp_path / "model.pt")
    one_line_error(lambda: model_from_dict(raw))
    one_line_error(lambda: load_model(tmp_path / "model.pt"), "model.pt")


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/lgn-hostile-loader-ran",))


@pytest.mark.parametrize("kind", ["pickled-object", "plain-pickle", "legacy-torch"])
def test_pickles_are_refused_in_one_line_and_never_run(tmp_path, kind):
    path = tmp_path / "model.pt"
    if kind == "pickled-object":
        torch.save({"x": Payload()}, path)
    elif kind == "plain-pickle":
        path.write_bytes(__import__("pickle").dumps({"x": Payload()}))
    else:
        torch.save(small_model(), path, _use_new_zipfile_serialization=False)
    one_line_error(lambda: load_model(path), "model.pt")
    one_line_error(lambda: import_file("difflogic", path), "model.pt")
    assert not os.path.exists("/tmp/lgn-hostile-loader-ran")


# --- root cause 9: meta is JSON-safe and deterministic, or refused ---------------------

def _cycle():
    items = []
    items.append(items)
    return {"loop": items}


def _deep(levels):
    meta = leaf = {}
    for _ in range(levels):
        leaf["x"] = {}
        leaf = leaf["x"]
    return meta


REFUSED_META = {
    "int-key": {1: 2}, "tuple-key": {(1, 2): 3}, "none-key": {None: 1}, "cycle": _cycle(),
    "deep": _deep(1000), "accuracy-text": {"accuracy": {"test": "high"}},
    "accuracy-not-dict": {"accuracy": [0.9]}, "mixed-set": {"s": {1, "a"}},
    "big-int": {"x": 10**400}, "bytes": {"x": b"raw"}, "complex": {"x": 1 + 2j},
    "tensor": {"x": torch.ones(3)}, "split-seed-negative": {"split_seed": -1},
    "split-seed-text": {"split_seed": "3"}, "dataset-number": {"dataset": 3},
    "not-a-dict": [1, 2], "shared-text": {"x": ["y" * (1 << 20)] * 64},
    "many-values": {"x": [0] * (mf.MAX_META_ITEMS + 1)},
}


@pytest.mark.parametrize("meta", REFUSED_META.values(), ids=REFUSED_META.keys())
def test_odd_meta_is_refused_in_one_line(tmp_path, meta):
    one_line_error(lambda: model_from_dict(small_model(meta=meta)), "meta")


@pytest.mark.parametrize("meta, expected", [
    ({"accuracy": {"test": float("nan"), "train": float("inf")}},
     {"accuracy": {"test": None, "train": None}}),
    ({"tags": {"b", "a", "c"}, "ids": frozenset({3, 1, 2.5})},
     {"tags": ["a", "b", "c"], "ids": [1, 2.5, 3]}),
    ({"pair": (1, (2, 3)), "acc": torch.tensor(0.5), "n": np.int64(7)},
     {"pair": [1, [2, 3]], "acc": 0.5, "n": 7}),
    ({"split_seed": 3, "dataset": "digits"}, {"split_seed": 3, "dataset": "digits"}),
])
def test_odd_but_meaningful_meta_becomes_plain_json(tmp_path, meta, expected):
    save_model(tmp_path / "m.pt", small_model(meta=meta))
    assert load_model(tmp_path / "m.pt").meta == expected


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
              st.text(max_size=4), st.binary(max_size=2)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.tuples(inner, inner),
        st.frozensets(st.one_of(st.integers(), st.floats(), st.text(max_size=2)), max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers(), st.none()), inner,
                        max_size=3)),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), JSONISH, max_size=4))
def test_any_meta_loads_as_strict_deterministic_json_or_is_one_lgn_error(meta):
    try:
        safe = model_from_dict(small_model(meta=meta)).meta
    except LgnError as exc:
        assert "\n" not in str(exc)
        return
    text = json.dumps(safe, allow_nan=False)
    assert json.loads(text) == safe
    again = model_from_dict(small_model(meta=copy.deepcopy(meta))).meta
    assert json.dumps(again, allow_nan=False) == text


# --- root cause 8: IDX files ------------------------------------------------------------

def idx_bytes(shape, data=None) -> bytes:
    header = b"\0\0\x08" + bytes([len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)
    return header + (bytes(math.prod(shape)) if data is None else data)


@pytest.mark.parametrize("content, fragment", [
    (idx_bytes((2**32 - 1,) * 4, b""), "more than the file can hold"),
    (idx_bytes((0, 28, 28), b""), "empty"),
    (idx_bytes((5, 0, 0), b""), "empty"),
    (idx_bytes((0,), b""), "empty"),
    (idx_bytes((10, 28, 28), bytes(100)), "(10, 28, 28)"),
    (idx_bytes((1, 2, 2), bytes(5)), "corrupt"),
    (b"\0\0\x08", "magic"),
    (b"\0\0\x08\x03\0\0", "header"),
    (b"\0\0\x0d\x01\0\0\0\x01\0\0\0\0", "magic"),  # floats, not unsigned bytes
], ids=["overflow", "empty-split", "0x0-images", "no-labels", "truncated", "trailing",
        "short", "short-dims", "float-type"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_hostile_idx_files_are_one_line(tmp_path, content, fragment, gz):
    from lgn_train.data import read_idx

    path = tmp_path / ("data.gz" if gz else "data")
    path.write_bytes(gzip.compress(content) if gz else content)
    one_line_error(lambda: read_idx(path), fragment)


def test_a_gzip_declaring_more_than_it_can_inflate_is_refused_unread(tmp_path, monkeypatch):
    from lgn_train import data

    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as f:  # header says 6 GB; 2 MB of zeros follow
        f.write(idx_bytes((6000, 1000, 1000), bytes(2 << 20)))
    one_line_error(lambda: data.read_idx(path), "more than the file can hold")
    monkeypatch.setattr(data, "MAX_IDX_BYTES", 1 << 40)  # the deflate ratio alone refuses it
    one_line_error(lambda: data.read_idx(path), "more than the file can hold")


def test_idx_data_set_loads_exactly_and_an_empty_split_is_refused(tmp_path):
    from lgn_train.data import IDX_FILES, load_dataset

    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for images_name, labels_name in IDX_FILES.values():
        (tmp_path / images_name).write_bytes(idx_bytes(images.shape, images.tobytes()))
        (tmp_path / labels_name).write_bytes(idx_bytes((2,), bytes([3, 7])))
    data = load_dataset("mnist", tmp_path)
    assert np.array_equal(data.test_features, images.reshape(2, -1)) and data.image_shape == (1, 3, 4)
    (tmp_path / IDX_FILES["test"][0]).write_bytes(idx_bytes((0, 3, 4), b""))
    one_line_error(lambda: load_dataset("mnist", tmp_path), "empty")


# --- root cause 7: lgn-train --resume with hostile checkpoints --------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from lgn_train.cli import main

    directory = tmp_path_factory.mktemp("resume")
    assert main(["--layers", "20,20", "--steps", "2", "--limit", "100", "-q", "--threads", "1",
                 "--checkpoint", str(directory / "ck.pt"), "-o", str(directory / "m.pt")]) == 0
    return torch.load(directory / "ck.pt", weights_only=True)


def _set(*path_and_value):
    *path, value = path_and_value

    def change(raw):
        target = raw
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _first_logits(raw):
    del raw["state_dict"][next(k for k in raw["state_dict"] if k.endswith("logits"))]


HOSTILE_CHECKPOINTS = {
    "args-list": _set("training_state", "args", [1, 2]),
    "tau-text": _set("training_state", "args", "tau", "x"),
    "lr-nan": _set("training_state", "args", "lr", float("nan")),
    "seed-huge": _set("training_state", "args", "seed", 2**70),
    "layers-int": _set("training_state", "args", "layers", 5),
    "unknown-choice": _set("training_state", "args", "parametrization", "zzz"),
    "candidates-list": _set("training_state", "args", "candidates", [0, 8]),
    "candidates-text": _set("training_state", "args", "candidates", "0,x"),
    "candidates-count": _set("training_state", "args", "candidates", "0,8,8"),
    "candidates-bool": _set("training_state", "args", "candidates", True),
    "augment-text": _set("training_state", "args", "augment_shift", "1"),
    "augment-negative": _set("training_state", "args", "augment_shift", -1),
    "limit-bool": _set("training_state", "args", "limit", True),
    "step-text": _set("training_state", "step", "3"),
    "loss-list": _set("training_state", "loss", [1.0]),
    "optimizer-list": _set("training_state", "optimizer", []),
    "moment-shape": lambda raw: raw["training_state"]["optimizer"]["state"][0].update(
        exp_avg=torch.zeros(3)),
    "moment-nan": lambda raw: raw["training_state"]["optimizer"]["state"][0].update(
        exp_avg_sq=torch.full_like(raw["training_state"]["optimizer"]["state"][0]["exp_avg"],
                                   float("nan"))),
    "foreign-parameter": lambda raw: raw["training_state"]["optimizer"]["state"].update(
        {99: {}}),
    "rng-content": _set("training_state", "order_rng", torch.zeros(5056, dtype=torch.uint8)),
    "rng-size": _set("training_state", "torch_rng", torch.zeros(5, dtype=torch.uint8)),
    "history-text": _set("training_state", "history", "x"),
    "missing-weights": _first_logits,
    "misshapen-weights": lambda raw: raw["state_dict"].update(
        {next(k for k in raw["state_dict"] if k.endswith("logits")): torch.zeros(2, 2)}),
    "config-unknown": lambda raw: raw["config"]["layers"][0].update(parametrization="zzz"),
}


@pytest.mark.parametrize("change", HOSTILE_CHECKPOINTS.values(), ids=HOSTILE_CHECKPOINTS.keys())
def test_hostile_checkpoints_are_one_line_exit_2_nothing_written(tmp_path, capsys, checkpoint,
                                                                change):
    from lgn_train.cli import main

    raw = copy.deepcopy(checkpoint)
    change(raw)
    torch.save(raw, tmp_path / "ck.pt")
    capsys.readouterr()
    with deadline(60):
        code = main(["--resume", str(tmp_path / "ck.pt"), "--steps", "3", "-q", "--threads",
                     "1", "-o", str(tmp_path / "out.pt")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("lgn-train: error:"), err
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("candidates", [None, 16], ids=["intact", "candidates-int"])
def test_an_intact_checkpoint_still_resumes(tmp_path, capsys, checkpoint, candidates):
    """Also one written before --candidates took one count per layer (it stored an int)."""
    from lgn_train.cli import main

    raw = copy.deepcopy(checkpoint)
    if candidates is not None:
        raw["training_state"]["args"]["candidates"] = candidates
    torch.save(raw, tmp_path / "ck.pt")
    assert main(["--resume", str(tmp_path / "ck.pt"), "--steps", "3", "-q", "--threads", "1",
                 "-o", str(tmp_path / "out.pt")]) == 0
    assert load_model(tmp_path / "out.pt").meta["training"]["steps"] == 3


# --- new-user items: the encoder's input and our own layers in an nn.Sequential ----------

MNIST_LIKE = Encoder(np.tile(np.linspace(32, 224, 7, dtype=np.float32), (4, 1)))


def test_encode_takes_one_sample_or_a_batch_and_names_the_shape_it_wants():
    sample = np.array([0, 100, 200, 255])
    assert MNIST_LIKE.encode(sample).shape == (28,)
    assert np.array_equal(MNIST_LIKE.encode(sample[None])[0], MNIST_LIKE.encode(sample))
    for bad in (np.zeros(5), np.zeros((2, 3, 4)), "text", [[1, 2], [3]], np.zeros((2, 0))):
        one_line_error(lambda: MNIST_LIKE.encode(bad), "[N, 4]")


def test_encode_warns_when_features_are_in_other_units_than_the_thresholds():
    rng = np.random.default_rng(0)
    with pytest.warns(EncoderRangeWarning, match="0-255 pixels"):
        MNIST_LIKE.encode(rng.random((100, 4)))  # [0, 1] pixels for a 0-255 model
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MNIST_LIKE.encode(rng.random((100, 4)) * 255)
        MNIST_LIKE.encode(rng.random((4, 4)))  # a few samples: too few to judge


@pytest.mark.parametrize("export", ["model_to_dict", "from_difflogic", "from_torchlogix"])
def test_an_nn_sequential_of_our_layers_exports_the_network_it_computes(export):
    from lgn_train.export import model_to_dict
    from lgn_train.layers import GroupSum, LogicLayer

    seq = torch.nn.Sequential(torch.nn.Flatten(), LogicLayer(8, 12, seed=1),
                              torch.nn.Sequential(LogicLayer(12, 6, seed=2)), GroupSum(3, 2.0))
    convert = {"model_to_dict": lambda s: model_to_dict(s, None),
               "from_difflogic": from_difflogic, "from_torchlogix": from_torchlogix}[export]
    model = model_from_dict(convert(seq))
    bits = np.random.default_rng(0).integers(0, 2, (64, 8), dtype=np.uint8)
    seq.eval()
    with torch.no_grad():
        expected = (seq(torch.from_numpy(bits).float()) * 2.0).round().long().numpy()
    assert np.array_equal(scores(ir.from_model(model), bits), expected)


def test_a_sequential_that_is_not_a_logic_net_is_one_line():
    from lgn_train.export import model_to_dict
    from lgn_train.layers import GroupSum, LogicLayer

    for seq in (torch.nn.Sequential(LogicLayer(8, 6), torch.nn.ReLU(), GroupSum(3)),
                torch.nn.Sequential(LogicLayer(8, 6)),
                torch.nn.Sequential(LogicLayer(8, 6), LogicLayer(5, 6), GroupSum(3))):
        one_line_error(lambda: model_to_dict(seq, None))


def test_lgn_train_says_where_it_wrote_everything_and_how_train_accuracy_was_measured(
        tmp_path, capsys):
    from lgn_train.cli import main

    metrics, ck = tmp_path / "metrics", tmp_path / "ck.pt"
    assert main(["--layers", "20,20", "--steps", "6", "--limit", "100", "-q", "--threads", "1",
                 "--metrics-dir", str(metrics), "--checkpoint", str(ck),
                 "-o", str(tmp_path / "m.pt")]) == 0
    out = capsys.readouterr().out
    for written in (tmp_path / "m.pt", metrics / "curves.png", ck):
        assert str(written) in out and written.exists()
    assert "on the first" not in out  # all 100 training samples were measured
    assert load_model(tmp_path / "m.pt").meta["train_eval_samples"] == 100


def test_train_accuracy_on_a_subset_is_reported_as_such():
    from lgn_train.layers import LogicNet
    from lgn_train.trainer import train

    rng = np.random.default_rng(0)
    bits, labels = rng.integers(0, 2, (300, 8)), rng.integers(0, 2, 300)
    metrics = train(LogicNet(8, [8, 4], 2), bits, labels, steps=4, progress=False,
                    log=lambda line: None, train_eval_limit=100, device="cpu")
    assert metrics["train_eval_samples"] == 100
    assert [point[0] for point in metrics["loss_trace"]] == [1, 2, 3, 4]


# --- importers: any field of a state dict replaced by garbage -----------------------------

IMPORT_GARBAGE = st.sampled_from([
    None, True, 3, -1, 2**70, 1.5, float("nan"), "x", [], [1, 2], {}, (1,), torch.tensor(1.0),
    torch.tensor(3), torch.zeros(0), torch.zeros(2, 3), torch.zeros(3, 16),
    torch.ones(2, 3, dtype=torch.int64), torch.zeros(2, 3, 4), torch.ones(3, 64),
    torch.full((2, 3), -5, dtype=torch.int64), torch.ones(3, 16, dtype=torch.bool),
    torch.ones(2, 2, 3, dtype=torch.int64), torch.ones(2, dtype=torch.complex64)])


def _state_dicts():
    difflogic = {"0.weights": torch.randn(3, 16), "0.indices": torch.zeros(2, 3, dtype=torch.int64),
                 "1.weights": torch.randn(2, 16), "1.indices": torch.zeros(2, 2, dtype=torch.int64)}
    torchlogix = {"0.weight": torch.randn(3, 16),
                  "0.connections.indices": torch.zeros(2, 3, dtype=torch.int64),
                  "1.weight": torch.randn(2, 4),
                  "1.connections.indices": torch.zeros(2, 2, dtype=torch.int64)}
    return {"difflogic": (difflogic, from_difflogic, {}),
            "torchlogix": (torchlogix, from_torchlogix, {"parametrization": "light"})}


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["difflogic", "torchlogix"]), st.data())
def test_any_state_dict_entry_or_option_replaced_by_garbage_is_one_lgn_error(source, data):
    state, convert, options = _state_dicts()[source]
    key = data.draw(st.sampled_from(list(state) + ["extra.weights", "extra.weight"]))
    state[key] = data.draw(IMPORT_GARBAGE)
    options = {"num_classes": 2, **options}
    option = data.draw(st.sampled_from(sorted({"num_classes", "tau", "num_inputs", *options})))
    if data.draw(st.booleans()):
        options[option] = data.draw(IMPORT_GARBAGE)
    try:
        convert(state, **options)
    except LgnError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)


def test_lgn_train_refuses_more_input_bits_than_the_compiler_reads(tmp_path, capsys,
                                                                   monkeypatch):
    from lgn_train import cli

    monkeypatch.setattr(cli, "MAX_INPUTS", 100)  # digits: 64 features x 2 thresholds = 128
    assert cli.main(["--thresholds", "2", "--layers", "20", "--steps", "1", "-q",
                     "-o", str(tmp_path / "m.pt")]) == 2
    assert "at most 100" in capsys.readouterr().err and not (tmp_path / "m.pt").exists()


@pytest.fixture(scope="module")
def conv_checkpoint(tmp_path_factory):
    from lgn_train.cli import main

    directory = tmp_path_factory.mktemp("conv")
    assert main(["--conv", "c2k3", "--layers", "20", "--thresholds", "1", "--steps", "1",
                 "--limit", "50", "-q", "--threads", "1", "--checkpoint",
                 str(directory / "ck.pt"), "-o", str(directory / "m.pt")]) == 0
    return torch.load(directory / "ck.pt", weights_only=True)


@pytest.mark.parametrize("change", [{"out_channels": 10**6}, {"depth": 40},
                                    {"kernel_size": 10**5}, {"in_channels": 10**9}])
def test_a_conv_checkpoint_asking_for_blocks_its_data_does_not_hold_is_one_line(
        tmp_path, capsys, conv_checkpoint, change):
    from lgn_train.cli import main

    raw = copy.deepcopy(conv_checkpoint)
    raw["config"]["arch"]["blocks"][0].update(change)
    torch.save(raw, tmp_path / "ck.pt")
    capsys.readouterr()
    with deadline(60):
        assert main(["--resume", str(tmp_path / "ck.pt"), "--steps", "2", "-q",
                     "-o", str(tmp_path / "o.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "larger than the network" in err, err
