"""hw.par_exec: the worker processes return exactly the contexts this process computes."""
import os
import signal

import numpy as np
import pytest

from hw.par_exec import GraphExecutor, default_workers
from hw.verify import full_context
from model.errors import BiRealError


def _inputs(tiny_hw, n):
    """n images as the parent graph takes them: UINT8 pixel codes (the images are k/256), in
    its layout (NHWC after streamlining)."""
    gi = np.load(tiny_hw[0] / "golden_in.npy").astype(np.float32) * np.float32(256)
    shape = tuple(tiny_hw[1].get_tensor_shape(tiny_hw[1].graph.input[0].name))
    xs = [gi[i % len(gi):i % len(gi) + 1] for i in range(n)]
    return [np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.shape != shape else x
            for x in xs]


def test_workers_return_the_serial_contexts_in_order(tiny_hw):
    """Every tensor of every image bit-equal (and same dtype) to an in-process execution,
    in input order; 5 images over 2 workers (uneven round-robin), then a second graph."""
    parent, child = tiny_hw[1], tiny_hw[2]
    xs = _inputs(tiny_hw, 5)
    # images differ, so the order is checked; pixels stay integer codes
    xs[3] = np.floor(xs[3] / 2)
    xs[4] = np.ascontiguousarray(xs[4][:, ::-1])
    ex = GraphExecutor(2)
    for model, inp in ((parent, xs), (child, None)):
        if inp is None:                              # the partition's own input tensor
            sdp = next(n for n in parent.graph.node if n.op_type == "StreamingDataflowPartition")
            inp = [full_context(parent, x)[sdp.input[0]] for x in xs]
        got = list(ex.contexts(model, inp))
        want = [full_context(model, x) for x in inp]
        assert [k for k, _ in got] == ["ok"] * len(inp)
        for (_, c), w in zip(got, want):
            assert set(c) == set(w)
            for n, v in w.items():
                v, got_v = np.asarray(v), np.asarray(c[n])      # bit patterns, not values
                assert (got_v.dtype, got_v.shape, got_v.tobytes()) == \
                    (v.dtype, v.shape, v.tobytes()), n
    ex.close()


def test_a_broken_graph_is_an_error_result_and_a_dead_worker_an_error(tiny_hw):
    parent = tiny_hw[1]
    ex = GraphExecutor(2)
    bad = [np.zeros((1, 3, 5, 5), np.float32)] * 2     # wrong input shape
    res = list(ex.contexts(parent, bad))
    assert all(k == "error" and isinstance(m, str) and m for k, m in res)
    os.kill(ex._pool[0].p.pid, signal.SIGKILL)
    with pytest.raises(BiRealError, match="verification worker .* died"):
        list(ex.contexts(parent, _inputs(tiny_hw, 2)))
    ex.close()


def test_worker_count_setting(monkeypatch):
    monkeypatch.setenv("BIREAL_VERIFY_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.setenv("BIREAL_VERIFY_WORKERS", "0")
    with pytest.raises(BiRealError, match="BIREAL_VERIFY_WORKERS must be"):
        default_workers()
    monkeypatch.delenv("BIREAL_VERIFY_WORKERS")
    assert 1 <= default_workers() <= 2
