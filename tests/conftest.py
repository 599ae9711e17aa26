"""Test-wide settings: everything runs offline, and the test processes share the CPU's cores.

Hypothesis runs derandomized by default (profile `ci`): every run tries the same examples, so a failure
on CI reproduces anywhere. `HYPOTHESIS_PROFILE=explore` draws new examples on every run instead (and
keeps failures in `.hypothesis/` to replay them).
"""

import os

import pytest
import torch
from hypothesis import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# pytest-xdist (setup.cfg's addopts) runs several test processes at once: each gets its share of the cores, for
# itself and for the attnseq commands its tests start, because OpenMP threads waiting for a busy core make an
# oversubscribed CPU many times slower.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1 and "OMP_NUM_THREADS" not in os.environ:
    _threads = max(1, (os.cpu_count() or 1) // _workers)
    os.environ["OMP_NUM_THREADS"] = str(_threads)
    torch.set_num_threads(_threads)

settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module (`pytestmark = pytest.mark.usefixtures("one_thread")`): tiny models run
    fastest on one thread, and a shared CPU makes more threads much slower still."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
