"""A user's model factory: a deep tanh MLP with PyTorch's default initialisation, written without actlab."""
from torch import nn


def make_net(depth: int = 16, width: int = 128) -> nn.Module:
    layers = [nn.Flatten(), nn.Linear(784, width), nn.Tanh()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.Tanh()]
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)
