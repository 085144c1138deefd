"""Shared fixtures. Tests run single-threaded: on a 2-core machine OpenMP threads fighting
another process slow small ops down by orders of magnitude. scripts/test.sh runs two pytest-xdist
workers with `--dist loadgroup`: every test is put in one group (`pytest_collection_modifyitems`
below), so each expensive session fixture is built by one worker only and the tests that write
into its folder never run beside each other."""
import warnings

import pytest
import torch

warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")
torch.set_num_threads(1)

# Session fixtures whose users must share one worker: the fixture is built once there, and its
# users (which write sim.json, fifo_sizing.json, deploy folders, ... into it) run one at a time.
# First match wins: a test using compiled_tiny and tiny_hw goes with compiled_tiny.
SHARED_FIXTURE_GROUPS = (
    ("compiled_cifar_zcu104", "cifar_zcu104"),
    ("compiled_tiny", "tiny_trained"),
    ("trained_tiny", "tiny_trained"),
    ("tiny_hw", "tiny_hw"),
)


def xdist_group_of(fixturenames, module: str) -> str:
    """The xdist group of a test: its shared session fixture's group, else its module (module
    fixtures and build caches such as test_rtl_fp32's harness stay on one worker)."""
    for fixture, group in SHARED_FIXTURE_GROUPS:
        if fixture in fixturenames:
            return group
    return module


# The longest groups (minutes of compile + simulation each) go first, one per worker, so
# the rest fills in around them instead of one of them starting last.
FIRST_GROUPS = ("cifar_zcu104", "tiny_trained")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test `xdist_group(...)` before xdist (in each worker) reads the marks, and
    put the FIRST_GROUPS first (stable: each file's tests keep their order)."""
    groups = {}
    for item in items:
        group = xdist_group_of(set(getattr(item, "fixturenames", ())), item.module.__name__)
        item.add_marker(pytest.mark.xdist_group(group))
        groups[item.nodeid] = group
    rank = {g: i for i, g in enumerate(FIRST_GROUPS)}
    items.sort(key=lambda it: rank.get(groups[it.nodeid], len(rank)))


@pytest.fixture(scope="session")
def trained_tiny(tmp_path_factory):
    """A bireal-tiny trained briefly on 1,000 MNIST-5k digits (both stages)."""
    from model.train import TrainConfig, train
    out = tmp_path_factory.mktemp("tiny")
    m = train(TrainConfig(arch="bireal-tiny", data="mnist5k", out=str(out), epochs1=1,
                          epochs2=1, limit=1000, progress=False), log=lambda *a: None)
    return out, m


def export_random(arch: str, out, images: int, seed: int = 0):
    """Export `arch` with random weights (seeded) and golden tensors for `images` inputs."""
    import argparse
    from model.cli import do_export
    a = argparse.Namespace(ckpt=None, arch=arch, random_init=True, images=images, data=None,
                           data_root=None, seed=seed, affine_bits=16, out=str(out))
    do_export(a)
    return out / "model.onnx"


@pytest.fixture(scope="session")
def compiled_tiny(trained_tiny, tmp_path_factory):
    """The trained tiny net exported with 100 MNIST test images and compiled for PYNQ-Z2:
    the compile folder. Every build step and the RTL graph are verified on the first 20 (a
    graph step that is wrong is wrong on most images; the Verilator runs of test_sim use all
    100, so the finished design is still held to the 100-image contract)."""
    import argparse
    from hw.compile import compile_model
    from model.cli import do_export
    ckpt_dir, _ = trained_tiny
    d = tmp_path_factory.mktemp("compiled_tiny")
    do_export(argparse.Namespace(ckpt=str(ckpt_dir / "checkpoint.pt"), arch=None,
                                 random_init=False, images=100, data=None, data_root=None,
                                 seed=0, affine_bits=16, out=str(d)))
    compile_model(d / "model.onnx", d / "compiled", board="pynq-z2", images=20, quiet=True)
    return d / "compiled"


CIFAR_ZCU104_CYCLES = 65_536    # 3,052 FPS at 200 MHz [analytical]


@pytest.fixture(scope="session")
def compiled_cifar_zcu104(tmp_path_factory):
    """bireal-cifar with random weights, 2 golden images, compiled for ZCU104 at
    CIFAR_ZCU104_CYCLES: the folder. Not the fastest folding (4,096 cycles/frame, ~175 k LUT):
    the suite checks every step and the simulation, and the smaller design (~60 k LUT
    [analytical]) takes ~3 CPU-minutes less to build and simulate (measured 2026-12-07)."""
    from hw.compile import compile_model
    d = tmp_path_factory.mktemp("cifar_zcu104")
    onnx = export_random("bireal-cifar", d, 2)
    compile_model(onnx, d / "c", board="zcu104", images=2, quiet=True,
                  target_cycles=CIFAR_ZCU104_CYCLES)
    return d / "c"



@pytest.fixture(scope="session")
def tiny_hw(tmp_path_factory):
    """bireal-tiny (random weights) through every build step, verified on 2 images:
    (dir, parent model, dataflow partition model, verify report)."""
    from hw.compile import verify_flow
    from hw.flow import partition_model
    d = tmp_path_factory.mktemp("tiny_hw")
    onnx = export_random("bireal-tiny", d, 2)
    parent, rep = verify_flow(onnx, d / "build", images=2, quiet=True)
    return d, parent, partition_model(parent), rep


@pytest.fixture(scope="session")
def hw_model(tiny_hw):
    """The tiny net's dataflow partition, built and verified by hw.flow (conftest.tiny_hw)."""
    return tiny_hw[2]


@pytest.fixture(scope="session")
def folded(hw_model):
    """auto_folding of the tiny net on ZCU104 at 20,000 cycles/frame (reachable, fits)."""
    from hw.folding import auto_folding
    return auto_folding(hw_model, "zcu104", 20_000)
