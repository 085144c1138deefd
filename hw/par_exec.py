"""Execute one graph on many images in worker processes: the per-step verification's cost.

The verifier executes every build step's graph on every golden image with qonnx, one image at
a time, in one thread; the images are independent, so on a machine with a second idle core they
are spread over `workers` processes, started once per verifier and reused for every step. They
are forked (as PyTorch's DataLoader workers are): a spawned interpreter would pay ~6 s of
imports (finn's ops import torch) and re-import the caller's main module. Each step's graph
reaches the workers as one ONNX file written once; the images go round-robin, one in flight per
worker, over a pipe, and come back in image order. `hw.verify.full_context` runs there exactly
as it would here, so the contexts are the same arrays. A worker that dies is a BiRealError
with its exit code, never a hang.
workers = $BIREAL_VERIFY_WORKERS if set, else min(2, usable cores); 1 (or a single image)
executes in this process, as before.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
import weakref
from pathlib import Path

from model.errors import BiRealError


def default_workers() -> int:
    env = os.environ.get("BIREAL_VERIFY_WORKERS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise BiRealError(f"BIREAL_VERIFY_WORKERS must be a whole number >= 1, got {env!r}")
        return int(env)
    return max(1, min(2, len(os.sched_getaffinity(0))))


def _context(model, x) -> tuple[str, object]:
    """("ok", full context) | ("bireal", message) | ("error", "Type: message")."""
    from hw.verify import full_context
    try:
        return "ok", full_context(model, x)
    except BiRealError as e:
        return "bireal", str(e)
    except Exception as e:          # a broken graph is a verification failure, not a crash
        return "error", f"{type(e).__name__}: {e}".strip()


class _Worker:
    """One forked worker process and its pipe (EOF on the pipe = the worker died)."""

    def __init__(self):
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.p = ctx.Process(target=_serve, args=(child,), daemon=True, name="bireal-verify")
        self.p.start()
        child.close()

    def send(self, task):
        try:
            self.conn.send(task)
        except (BrokenPipeError, OSError):
            self._died()

    def recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self._died()

    def _died(self):
        self.p.join(timeout=5)
        raise BiRealError(f"verification worker (pid {self.p.pid}) died with exit code "
                          f"{self.p.exitcode}")


class GraphExecutor:
    """contexts(model, inputs): one `_context` result per input, in input order."""

    def __init__(self, workers: int | None = None):
        self.workers = default_workers() if workers is None else workers
        self._pool: list[_Worker] = []
        self._tmp = None
        self._stop = None                # weakref.finalize of _stop: runs once, here or at exit
        self._n = 0

    def _start(self):
        self._tmp = Path(tempfile.mkdtemp(prefix="bireal-verify-"))
        self._pool = [_Worker() for _ in range(self.workers)]
        self._stop = weakref.finalize(self, _stop, list(self._pool), self._tmp)

    def contexts(self, model, inputs: list):
        if self.workers <= 1 or len(inputs) < 2:
            for x in inputs:
                yield _context(model, x)
            return
        if not self._pool:
            self._start()
        self._n += 1
        path = str(self._tmp / f"step{self._n}.onnx")
        model.save(path)
        pool, n = self._pool, len(inputs)
        busy = [False] * len(pool)
        try:
            for i in range(min(n, len(pool))):
                pool[i].send((path, inputs[i]))
                busy[i] = True
            for i in range(n):
                w = i % len(pool)
                res = pool[w].recv()
                busy[w] = False
                if i + len(pool) < n:
                    pool[w].send((path, inputs[i + len(pool)]))
                    busy[w] = True
                yield res
        finally:                         # the caller stopped early: keep the pipes in step
            for w, b in enumerate(busy):
                if b:
                    pool[w].recv()
            os.unlink(path)

    def close(self):
        if self._stop is not None:
            self._stop()
            self._pool, self._stop = [], None


def _stop(pool: list, tmp):
    for w in pool:
        w.conn.close()                   # the worker's recv sees EOF and returns
    for w in pool:
        w.p.join(timeout=5)
        if w.p.is_alive():
            w.p.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def _serve(conn):
    """Worker loop: (onnx path, input) in, `_context` result out, until the pipe closes."""
    from qonnx.core.modelwrapper import ModelWrapper
    cache: dict = {}
    while True:
        try:
            path, x = conn.recv()
        except (EOFError, OSError):
            return
        if path not in cache:
            cache.clear()
            cache[path] = ModelWrapper(path)
        conn.send(_context(cache[path], x))
