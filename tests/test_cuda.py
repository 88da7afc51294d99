"""Training on CUDA: what a GPU-trained net compiles to is what it computed on the GPU.

Skipped without a CUDA device (CI has none); run on a GPU machine with
`pytest tests/test_cuda.py`. For every parametrization and sampling mode, a short run on
the digits trains on the GPU; its discrete forward on the GPU must equal the same net's on
the CPU and the compiled IR of its model file, bit for bit, and the relaxed forwards must
agree to float tolerance.
"""

import numpy as np
import pytest
import torch

from lgn_compile import evaluate, ir
from lgn_compile.model_file import model_from_dict
from lgn_compile.passes import PRESETS, run_pipeline
from lgn_train import LogicNet, model_to_dict, train
from lgn_train.data import ThermometerEncoder, load_dataset

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

METHODS = {  # name: LogicNet options
    "softmax16": {"parametrization": "softmax16"},
    "softmax16-gumbel": {"parametrization": "softmax16", "sampling": "gumbel"},
    "iwp-k2": {"parametrization": "iwp", "arity": 2},
    "iwp-k4-gumbel": {"parametrization": "iwp", "arity": 4, "sampling": "gumbel"},
    "iwp-k6": {"parametrization": "iwp", "arity": 6},
}


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits", seed=0)
    encoder = ThermometerEncoder(3).fit(data.train_features)
    return (encoder, encoder.encode(data.train_features), data.train_labels,
            encoder.encode(data.test_features), data.test_labels)


@pytest.mark.parametrize("method", METHODS)
def test_gpu_trained_net_compiles_to_what_it_computed_on_the_gpu(method, digits):
    encoder, x_train, y_train, x_test, y_test = digits
    net = LogicNet(x_train.shape[1], [800, 800], 10, tau=5.0, seed=3, **METHODS[method])
    metrics = train(net, x_train, y_train, x_test, y_test, epochs=20, lr=0.05, seed=3,
                    device="cuda", progress=False, log=lambda line: None)
    assert metrics["device"].startswith("cuda")
    assert metrics["test_discrete"] > 0.5, metrics  # it learned (chance is 0.1)

    bits = torch.from_numpy(x_test).to("cuda")
    gpu_scores = net.to("cuda").discrete_scores(bits).cpu().numpy()
    gpu_relaxed = net.forward_relaxed(bits.float()).detach().cpu()
    net.to("cpu")
    assert np.array_equal(net.discrete_scores(x_test), gpu_scores)
    torch.testing.assert_close(net.forward_relaxed(torch.from_numpy(x_test).float()).detach(),
                               gpu_relaxed, atol=1e-4, rtol=1e-4)

    model = model_from_dict(model_to_dict(net, encoder, {"dataset": "digits"}))
    graph = ir.from_model(model)
    assert np.array_equal(evaluate.scores(graph, x_test), gpu_scores)
    optimized, _ = run_pipeline(graph, PRESETS[2])
    assert np.array_equal(evaluate.scores(optimized, x_test), gpu_scores)
    accuracy = float((gpu_scores.argmax(1) == y_test).mean())
    assert accuracy == pytest.approx(metrics["test_discrete"], abs=1e-9)
