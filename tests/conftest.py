import os

import pytest
import torch

# Tests are sized for 2 CPU cores; keep intra-op threads fixed so timings and memory are stable.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def repo_root() -> str:
    return REPO_ROOT
