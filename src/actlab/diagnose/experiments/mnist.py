"""MNIST as flat vectors for the fully connected experiments (through actlab.data)."""
from __future__ import annotations

import torch


def flat_mnist(samples: int, dataset: str = "mnist-small", data_dir=None, test: bool = False):
    """The first ``samples`` training (or test) images as [N, 784] floats in [0, 1], and labels.

    The first images, not a random draw, as in Nielsen's experiments."""
    from actlab.data import load_dataset

    ds = load_dataset(dataset, data_dir=data_dir, progress=False)
    images, labels = (ds.test_images, ds.test_labels) if test else (ds.train_images, ds.train_labels)
    if samples > len(images):
        raise ValueError(f"--samples {samples} is more than the {len(images)} "
                         f"{'test' if test else 'training'} images of {ds.name}; ask for fewer, or use "
                         "--dataset mnist --data-dir DIR for the full set")
    x = images[:samples].reshape(samples, -1).to(torch.float32) / 255.0
    return x, labels[:samples].clone()
