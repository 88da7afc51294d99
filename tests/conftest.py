"""Shared fixtures: small random models written as real model files."""

from __future__ import annotations

import pytest

from lgn_compile.model_file import load_model, save_model
from lgn_compile.random_net import random_model_dict


@pytest.fixture
def model_path(tmp_path):
    """A random 2-input network saved as model.pt."""
    path = tmp_path / "model.pt"
    save_model(path, random_model_dict(seed=7, num_inputs=19, layer_sizes=(40, 30, 24),
                                       num_classes=4))
    return path


@pytest.fixture
def model(model_path):
    return load_model(model_path)
