"""Bit packing along the batch: sample s of a signal is bit s%64 of word s//64.

Every bit-parallel evaluator in the project (the IR reference, the C ctypes wrapper, the
tests) packs and unpacks through these two functions.
"""

from __future__ import annotations

import numpy as np


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Bits [N, n] (0/1) -> words uint64 [n, ceil(N/64)]: one row of words per signal."""
    bits = np.asarray(bits, dtype=np.uint8)
    num_samples = bits.shape[0]
    num_words = max(1, -(-num_samples // 64))
    padded = np.zeros((bits.shape[1], num_words * 64), dtype=np.uint8)
    padded[:, :num_samples] = bits.T
    packed = np.packbits(padded, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_bits(words: np.ndarray, num_samples: int) -> np.ndarray:
    """Words uint64 [n, W] -> bits uint8 [num_samples, n] (inverse of pack_bits)."""
    words = np.ascontiguousarray(np.asarray(words, dtype="<u8"))
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")
    return np.ascontiguousarray(bits[:, :num_samples].T)


def group_popcounts(output_bits: np.ndarray, num_classes: int) -> np.ndarray:
    """Output bits [N, num_classes*group] -> class scores int64 [N, num_classes]."""
    num_samples = output_bits.shape[0]
    return output_bits.reshape(num_samples, num_classes, -1).sum(axis=2, dtype=np.int64)
