"""Test-wide settings: everything runs offline and single-threaded enough to share a small CPU."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

# The models under test are tiny: one thread avoids thread start-up and contention costs that
# dominate at these sizes (and keeps results independent of the machine's core count).
torch.set_num_threads(1)
