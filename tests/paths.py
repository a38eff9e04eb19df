"""Where the tests find the project's shared real data.

CI clones the repository with ``shared/`` beside it, so the official MNIST and
Fashion-MNIST files live in ``<clone>/../shared/data``; ACTLAB_SHARED_DATA
overrides that. Tests that need the files skip, with this path in the reason,
when they are absent.
"""
import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("ACTLAB_SHARED_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")
MNIST_DIR = SHARED_DATA / "mnist"
