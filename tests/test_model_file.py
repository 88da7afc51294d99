"""The model file is untrusted input: whatever it holds, loading gives a Model or one
LgnError, never another exception, never code execution, never a huge allocation."""

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lgn_compile.errors import LgnError
from lgn_compile.model_file import load_model, model_from_dict, save_model
from lgn_compile.random_net import fuzz_model_dict, random_model_dict

GARBAGE = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
    st.text(max_size=5), st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([torch.zeros(0), torch.ones(2, 3), torch.tensor(float("nan")),
                     torch.full((2, 2), -1, dtype=torch.int64), torch.ones(3, dtype=torch.bool),
                     torch.zeros(2, 4, dtype=torch.uint8), torch.tensor([2**40])]))


def _paths(value, prefix=()):
    """Every (container, key) location inside a nested dict/list model."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        yield prefix + (key,)
        if isinstance(child, (dict, list)):
            yield from _paths(child, prefix + (key,))


def _replace(raw, path, value):
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_field_replaced_by_garbage_is_a_model_or_an_lgn_error(data):
    raw = random_model_dict(1, num_inputs=5, layer_sizes=(6, 4), num_classes=2)
    path = data.draw(st.sampled_from(list(_paths(raw))))
    _replace(raw, path, data.draw(GARBAGE))
    try:
        model_from_dict(raw)
    except LgnError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_files_load_or_fail_with_one_lgn_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("damaged") / "model.pt"
    save_model(path, random_model_dict(2, num_inputs=5, layer_sizes=(6, 4), num_classes=2))
    content = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(content[:data.draw(st.integers(0, len(content)))]))
    try:
        load_model(path)
    except LgnError as exc:
        assert str(path) in str(exc)


def test_every_fuzz_net_round_trips_through_a_file(tmp_path):
    for seed in range(20):
        raw, _ = fuzz_model_dict(seed)
        save_model(tmp_path / "m.pt", raw)
        model = load_model(tmp_path / "m.pt")
        assert model.num_inputs == raw["config"]["num_inputs"]
        for layer, ops, tables in zip(model.layers, raw["discrete"]["operands"],
                                      raw["discrete"]["tables"]):
            assert np.array_equal(layer.operands, ops.numpy())
            assert np.array_equal(layer.tables, tables.numpy())


def test_a_stride_zero_giant_tensor_is_refused_before_it_is_copied(tmp_path):
    raw = random_model_dict(3, num_inputs=5, layer_sizes=(4,), num_classes=2)
    huge = 10**9  # 16 GB once copied; 16 bytes on disk
    raw["discrete"]["operands"][0] = torch.zeros(1, 2, dtype=torch.int64).expand(huge, 2)
    raw["discrete"]["tables"][0] = torch.zeros(1, 4, dtype=torch.uint8).expand(huge, 4)
    torch.save(raw, tmp_path / "giant.pt")
    assert os.path.getsize(tmp_path / "giant.pt") < 100_000
    with pytest.raises(LgnError, match="larger than its stored data"):
        load_model(tmp_path / "giant.pt")


@pytest.mark.parametrize("where, value, message", [
    ("state_dict", {"layers.0.weights": torch.tensor([0.5, float("nan")])}, "NaN or infinity"),
    ("state_dict", {"layers.1.weights": torch.tensor([float("-inf")])}, "NaN or infinity"),
    ("name", "módel", "ASCII identifier"),
    ("version", torch.tensor(1), "unsupported model format version"),
    ("version", True, "unsupported model format version"),
    ("num_inputs", 10**12, "'num_inputs' must be an int"),
    ("num_classes", 0, "'num_classes' must be an int"),
])
def test_hostile_values_are_named(where, value, message):
    raw = random_model_dict(4, num_inputs=5, layer_sizes=(6, 4), num_classes=2)
    target = raw if where in ("state_dict", "version") else raw["config"]
    target[where] = value
    with pytest.raises(LgnError, match=message):
        model_from_dict(raw)


def test_encoder_shape_must_match_its_config():
    raw, _ = next((r, rec) for r, rec in map(fuzz_model_dict, range(100))
                  if r["config"]["encoder"] is not None)
    raw["config"]["encoder"]["num_thresholds"] += 1
    with pytest.raises(LgnError, match="encoder config says"):
        model_from_dict(raw)


def test_save_refuses_an_invalid_model_and_writes_nothing(tmp_path):
    raw = random_model_dict(5)
    raw["discrete"]["operands"][0][0, 0] = -1
    with pytest.raises(LgnError, match="out of range"):
        save_model(tmp_path / "m.pt", raw)
    assert list(tmp_path.iterdir()) == []


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_model(path, random_model_dict(6))
    before = path.read_bytes()

    def disk_full(obj, file, **kwargs):
        with open(file, "wb") as f:
            f.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError):
        save_model(path, random_model_dict(7))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
