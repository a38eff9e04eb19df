"""Shared pytest configuration for actlab's tests.

Under CI (the environment variable CI set to a true value, as `.ci/run` runs),
a skipped test fails the run: a skip there means a browser, a package or the
shared data is missing, and a green run that tested less than it claims is
worse than a red one. Locally, skips stay skips (e.g. no chromium installed).

Every test starts from its own fixed random state (torch, NumPy, random), derived
from its name: a test on random inputs that fails fails again on rerun, whatever
ran before it in its worker. ``ACTLAB_TEST_SEED=n`` shifts every test's seed, to
try other inputs.
"""
import os
import random
import zlib

import numpy as np
import pytest
import torch

_TRUE = {"1", "true", "yes", "on"}


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in _TRUE


def _skipped(config):
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return reporter.stats.get("skipped", []) if reporter else []


def pytest_sessionfinish(session, exitstatus):
    # Runs before the summary is printed; on the xdist controller the stats hold every worker's reports.
    if _ci() and _skipped(session.config) and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = _skipped(config)
    if _ci() and skipped:
        terminalreporter.section("skipped tests fail CI", red=True)
        for report in skipped:
            terminalreporter.write_line(f"SKIPPED counts as a failure under CI: {report.nodeid}")


@pytest.fixture(autouse=True)
def _seeded(request):
    seed = (zlib.crc32(request.node.nodeid.encode()) + int(os.environ.get("ACTLAB_TEST_SEED", "0"))) % 2**31
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: the tests share a small machine, where spinning OpenMP threads only
    cost time (use with ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
