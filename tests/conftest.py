"""Test-wide settings: everything runs offline and single-threaded enough to share a small CPU.

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
