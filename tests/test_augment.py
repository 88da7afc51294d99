"""Random shifts of thermometer bits (lgn_train.augment): the same as encoding the shifted
image, each sample its own offset, reproducible from the generator; the CLI's checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lgn_compile.model_file import load_model
from lgn_train import load_dataset
from lgn_train.augment import RandomShift
from lgn_train.cli import main as train_main
from lgn_train.data import ThermometerEncoder


def shift_image(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """[C, H, W] -> out[y + dy, x + dx] = image[y, x], zero where nothing lands, by loops."""
    out = np.zeros_like(image)
    _, height, width = image.shape
    for y in range(height):
        for x in range(width):
            if 0 <= y + dy < height and 0 <= x + dx < width:
                out[:, y + dy, x + dx] = image[:, y, x]
    return out


@pytest.mark.parametrize("max_shift,shape", [(1, (1, 8, 8)), (2, (1, 8, 8)), (1, (3, 5, 7))])
def test_shifted_bits_are_the_encoding_of_the_shifted_images(max_shift, shape):
    """Shifting bits equals shifting the raw image first and encoding it (zero is below
    every threshold), with the offsets the generator draws: dy then dx, per sample."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 16, (40, *shape)).astype(np.float32)
    images[rng.random(images.shape) < 0.4] = 0  # background
    encoder = ThermometerEncoder(3).fit(images.reshape(40, -1))
    bits = torch.from_numpy(encoder.encode(images.reshape(40, -1)))
    shift = RandomShift(shape, 3, max_shift)
    for dtype in (torch.uint8, torch.float32):
        got = shift(bits.to(dtype), torch.Generator().manual_seed(5))
        offsets = torch.randint(-max_shift, max_shift + 1, (2, 40),
                                generator=torch.Generator().manual_seed(5)).numpy()
        assert len({(a, b) for a, b in offsets.T}) > 3  # several offsets in one batch
        want = np.stack([encoder.encode(shift_image(img, dy, dx).reshape(1, -1))[0]
                         for img, dy, dx in zip(images, *offsets)])
        assert got.dtype == dtype and np.array_equal(got.numpy(), want)
    assert torch.equal(RandomShift(shape, 3, 0)(bits, torch.Generator()), bits)


def test_digits_images_move_and_keep_their_ink():
    data = load_dataset("digits", seed=0)
    encoder = ThermometerEncoder(2).fit(data.train_features)
    bits = torch.from_numpy(encoder.encode(data.train_features[:200]))
    shifted = RandomShift(data.image_shape, 2, 1)(bits, torch.Generator().manual_seed(0))
    moved = (shifted != bits).any(1)
    assert 0.7 < moved.float().mean() < 1.0  # 8 of 9 offsets move an image
    # digits' ink stays inside a border, so a one-pixel shift loses little of it
    assert shifted.sum() > 0.9 * bits.sum()


def test_bad_shifts_are_refused():
    with pytest.raises(ValueError, match="shift"):
        RandomShift((1, 8, 8), 2, 8)
    with pytest.raises(ValueError, match="shift"):
        RandomShift((1, 8, 8), 2, -1)
    with pytest.raises(ValueError, match="image shape"):
        RandomShift((8, 8), 2, 1)


def test_cli_augment_shift_trains_records_and_checks(tmp_path, capsys):
    base = ["--dataset", "digits", "--layers", "60,40", "--thresholds", "2", "--tau", "2",
            "-q", "--threads", "1", "--epochs", "1", "--seed", "3"]
    plain, shifted = tmp_path / "p.pt", tmp_path / "s.pt"
    assert train_main([*base, "-o", str(plain)]) == 0
    assert train_main([*base, "--augment-shift", "1", "-o", str(shifted)]) == 0
    model = load_model(shifted)
    assert model.meta["training"]["augment_shift"] == 1
    assert load_model(plain).meta["training"]["augment_shift"] == 0
    # the shifted run trained on other inputs, so it learned other parameters
    weights = load_model(plain).state_dict
    assert any(not torch.equal(weights[k], v) for k, v in model.state_dict.items()
               if k.endswith("logits"))
    for value, fragment in (("-1", "at least 0"), ("8", "0..7")):
        capsys.readouterr()
        assert train_main([*base, "--augment-shift", value, "-o", str(tmp_path / "x.pt")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--augment-shift" in err[0] and fragment in err[0], err
        assert not (tmp_path / "x.pt").exists()
