"""lgn_train: the training frontend of lgn-compile.

Differentiable logic gate networks (difflogic's softmax-over-16-gates relaxation, and an
input-wise variant), datasets and thermometer encoding, a training loop, and export to the
model file that `lgn-compile` reads (format owned by `lgn_compile.model_file`).

    from lgn_train import LogicNet, ThermometerEncoder, load_dataset, train, model_to_dict
"""

from lgn_compile import __version__

from .data import Dataset, ThermometerEncoder, load_dataset, load_digits_split
from .export import encoder_from_file, model_from_file, model_to_dict
from .layers import GroupSum, LogicLayer, LogicNet
from .trainer import discrete_accuracy, soft_accuracy, train

__all__ = [
    "__version__", "Dataset", "ThermometerEncoder", "load_dataset", "load_digits_split",
    "LogicLayer", "GroupSum", "LogicNet", "model_to_dict", "model_from_file",
    "encoder_from_file", "train", "soft_accuracy", "discrete_accuracy",
]
