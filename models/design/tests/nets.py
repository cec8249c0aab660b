"""Networks for the tests: untrained weights, batch norms as after training."""
import torch

from models.design import arch as A


def trained_like(spec, seed=0):
    """The spec's network with random weights and batch norms far from the
    identity (random statistics, gamma and beta), in evaluation mode: folding
    and import are exercised on every term, and no two biases are equal (the
    ONNX exporter would share equal constants through Identity nodes)."""
    torch.manual_seed(seed)
    net = A.build(spec)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return net.eval()
