"""Training-time augmentation on thermometer bits: random translations of image datasets.

Deep learned-wiring nets fit MNIST's training set ~1.3 points better than its test set after
a few epochs; shifting each training image by a pixel or two is the classic cure, and it
costs a few copies of the minibatch. It works on the encoded bits (bit f*T+t of feature f in
(C, H, W) order, see `ThermometerEncoder`), so the encoder and the model file are untouched.
"""

from __future__ import annotations

import torch


class RandomShift:
    """Shift every image of a minibatch by its own (dy, dx), each uniform in
    [-max_shift, max_shift]; pixels shifted in read below every threshold (all bits 0: the
    background of MNIST-like images).

    `shift(bits, generator)` takes float or uint8 bits [N, C*H*W*T] and returns the shifted
    copy; the offsets come from `generator` (a CPU torch.Generator), so a seeded run is
    reproducible whatever the device."""

    def __init__(self, image_shape, num_thresholds: int, max_shift: int):
        self.shape = (*(int(s) for s in image_shape), int(num_thresholds))
        self.max_shift = int(max_shift)
        if len(self.shape) != 4 or min(self.shape) < 1:
            raise ValueError(f"need an image shape (C, H, W) and thresholds >= 1, got "
                             f"{tuple(image_shape)} and {num_thresholds}")
        if not 0 <= self.max_shift < min(self.shape[1:3]):
            raise ValueError(f"the shift must be in 0..{min(self.shape[1:3]) - 1} pixels for "
                             f"{self.shape[1]}x{self.shape[2]} images, got {max_shift}")

    def __call__(self, bits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, k = len(bits), self.max_shift
        if k == 0 or n == 0:
            return bits
        images = bits.reshape(n, *self.shape)  # [N, C, H, W, T]
        _, height, width, _ = self.shape
        offsets = torch.randint(-k, k + 1, (2, n), generator=generator)
        shifted = torch.zeros_like(images)
        code = ((offsets[0] + k) * (2 * k + 1) + offsets[1] + k).to(bits.device)
        for dy in range(-k, k + 1):
            for dx in range(-k, k + 1):
                rows = torch.nonzero(code == (dy + k) * (2 * k + 1) + dx + k).flatten()
                if len(rows):  # out[y + dy, x + dx] = in[y, x] where both are inside
                    shifted[rows, :, max(dy, 0):height + min(dy, 0),
                            max(dx, 0):width + min(dx, 0)] = \
                        images[rows, :, max(-dy, 0):height + min(-dy, 0),
                               max(-dx, 0):width + min(-dx, 0)]
        return shifted.reshape(bits.shape)
