"""lgn_train: the training frontend of lgn-compile.

Differentiable logic gate networks (difflogic's softmax over 16 gates, and Light DLGN's
input-wise parametrization with 2..6-input gates; residual init; soft or Gumbel
straight-through sampling), convolutional nets of logic trees with OR pooling, datasets
(digits, MNIST, Fashion-MNIST, CIFAR-10) and thermometer encoding, a training loop (metrics, checkpoints, DDP), and export to the model file that
`lgn-compile` reads (format owned by `lgn_compile.model_file`).

    from lgn_train import LogicNet, ThermometerEncoder, load_dataset, train, model_to_dict
"""

from lgn_compile import __version__

from .conv import ConvLogicNet, Flatten, LogicConv2d, OrPool2d
from .data import Dataset, ThermometerEncoder, load_dataset, load_digits_split
from .export import (encoder_from_file, load_checkpoint, model_from_file, model_to_dict,
                     net_from_config)
from .layers import GroupSum, LogicLayer, LogicNet, random_connections, unique_connections
from .trainer import discrete_accuracy, soft_accuracy, train, write_metrics

__all__ = [
    "__version__", "Dataset", "ThermometerEncoder", "load_dataset", "load_digits_split",
    "LogicLayer", "GroupSum", "LogicNet", "ConvLogicNet", "LogicConv2d", "OrPool2d", "Flatten",
    "model_to_dict", "model_from_file",
    "encoder_from_file", "train", "soft_accuracy", "discrete_accuracy", "load_checkpoint",
    "net_from_config", "random_connections", "unique_connections", "write_metrics",
]
