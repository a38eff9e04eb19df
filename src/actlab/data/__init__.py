"""actlab.data: MNIST-style datasets, found locally or downloaded with checks, and split for training.

    ds = load_dataset("mnist-small")       # the real MNIST subset shipped with actlab
    s = split(ds, val_fraction=0.1, seed=0) # float32 [N, 1, 28, 28] in [0, 1]

See docs/data.md for where the files come from and how they are checked.
"""
from .dataset import Dataset, load_dataset
from .errors import DataError
from .sources import DATASETS, names
from .split import Splits, split

__all__ = ["DATASETS", "DataError", "Dataset", "Splits", "load_dataset", "names", "split"]
