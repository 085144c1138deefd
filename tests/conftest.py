"""Shared fixtures. Tests run single-threaded: on a 2-core machine OpenMP threads fighting
another process slow small ops down by orders of magnitude."""
import warnings

import pytest
import torch

warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def trained_tiny(tmp_path_factory):
    """A bireal-tiny trained briefly on 1,000 MNIST-5k digits (both stages)."""
    from model.train import TrainConfig, train
    out = tmp_path_factory.mktemp("tiny")
    m = train(TrainConfig(arch="bireal-tiny", data="mnist5k", out=str(out), epochs1=1,
                          epochs2=1, limit=1000, progress=False), log=lambda *a: None)
    return out, m
