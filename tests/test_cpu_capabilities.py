"""The catalog's edge-case guarantees on every CPU kernel family PyTorch dispatches to.

PyTorch picks its vectorised CPU kernels by the CPU's capability (DEFAULT,
AVX2, AVX512 on x86-64) and lets ATEN_CPU_CAPABILITY force a lower one. Native
ops differ between them at the edges (on AVX-512 `F.gelu` is NaN at +inf), so
the limit, overflow and NaN-gradient checks run once per capability this
machine can execute, each in a fresh process (the choice is made at start-up).
actlab's fused kernels (catalog/fused.py) are built for each capability first,
so the checks see them, and the guarded path beside them (the verify tests run
both where a kernel applies).
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["default", "avx2", "avx512"]
# What this machine supports: everything up to its own capability (x86-64); elsewhere only its own.
OWN = torch.backends.cpu.get_cpu_capability().lower()
CAPABILITIES = ORDER[: ORDER.index(OWN) + 1] if OWN in ORDER else [OWN]


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_edge_cases_hold_under_each_cpu_capability(capability):
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    env.pop("CI", None)  # the inner run reports its own skips below
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip().lower() == capability, probe.stdout + probe.stderr
    from actlab.catalog import fused

    if fused.compiler() is not None:  # without one the checks below see the Python guard alone
        build = subprocess.run(
            [sys.executable, "-c", "from actlab.catalog import fused; fused.build(); print(fused.status())"],
            env=env, capture_output=True, text=True, timeout=600)
        assert build.returncode == 0 and build.stdout.startswith("fused kernels in use"), build.stdout + build.stderr
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         str(ROOT / "tests" / "test_catalog_verify.py"),
         "-k", "limits or nan_gradient or overflow or guarded or autograd_in_every_dtype"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    tail = "\n".join(done.stdout.splitlines()[-30:])
    assert done.returncode == 0, f"under ATEN_CPU_CAPABILITY={capability}:\n{tail}"
    assert " passed" in tail and "skipped" not in tail and "failed" not in tail, tail
