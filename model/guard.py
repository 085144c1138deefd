"""Up-front input checks and all-or-nothing output folders for the `bireal` commands.

Checks raise BiRealError with one line naming the argument, the file and what is wrong, before
a command starts its (minutes of) work. Output folders:

  staged(out, owned)   the command writes into a temporary sibling `.NAME.partial-*`; on success
                       the entries move into OUT by rename (entries named in `owned` that the new
                       result lacks are removed: they belonged to the previous result); on any
                       failure the sibling is deleted and OUT is as it was.
  swapped(out)         for multi-stage jobs whose files record their own paths (`bireal build`,
                       `run`): the previous OUT is renamed aside to `.NAME.previous-*`, the job
                       works in OUT, and a failure deletes OUT and renames the previous back.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import BiRealError

EXPORT_FILES = ("model.onnx", "export.json", "golden_in.npy", "golden_out.npy")


def need_int(flag: str, value, lo: int | None = None, hi: int | None = None):
    """value is None or lo <= value <= hi."""
    if value is None:
        return value
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = (f">= {lo}" if hi is None else f"<= {hi}" if lo is None else f"in [{lo}, {hi}]")
        raise BiRealError(f"{flag} must be {rng}, got {value}")
    return value


def need_positive(flag: str, value):
    """value is None or a finite number > 0."""
    if value is not None and not (value > 0 and value != float("inf")):
        raise BiRealError(f"{flag} must be a number > 0, got {value}")
    return value


def need_file(path, what: str, hint: str = "") -> Path:
    """An existing, non-empty regular file."""
    p = Path(path)
    if not p.exists():
        raise BiRealError(f"{what} not found: {p}" + (f" ({hint})" if hint else ""))
    if not p.is_file():
        raise BiRealError(f"{what} {p} is a folder, not a file" + (f" ({hint})" if hint else ""))
    if p.stat().st_size == 0:
        raise BiRealError(f"{what} {p} is empty")
    return p


def need_json(path, what: str, hint: str = "") -> dict:
    """A file holding one JSON object."""
    p = need_file(path, what, hint)
    try:
        obj = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise BiRealError(f"{what} {p} is not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise BiRealError(f"{what} {p} must hold a JSON object, not {type(obj).__name__}")
    return obj


def read_onnx(path, what: str = "ONNX file"):
    """Parse an ONNX file (a truncated or foreign file is one BiRealError, not a DecodeError)."""
    import onnx
    p = need_file(path, what)
    try:
        m = onnx.load(str(p))
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError, RuntimeWarning, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BiRealError(f"{what} {p} is not a readable ONNX model (truncated or another "
                          f"kind of file: {first})") from None
    if not m.graph.node:
        raise BiRealError(f"{what} {p} is not a readable ONNX model (no graph nodes: truncated "
                          "or another kind of file)")
    return m


def project_export(onnx_path, images: int | None = None) -> dict:
    """onnx_path is a `bireal export` model.onnx: it parses, starts with the input Quant, and
    export.json + golden tensors (for `images`, >= 1; None: any number) sit beside it.
    Returns export.json's content."""
    need_int("--images", images, 1)
    p = Path(onnx_path)
    m = read_onnx(p, "model.onnx")
    first = [n for n in m.graph.node if m.graph.input and m.graph.input[0].name in n.input]
    if not first or first[0].op_type != "Quant":
        raise BiRealError(f"{p} is an ONNX model but not a `bireal export` (its input does not "
                          "go through the input Quant node); export one with `bireal export`")
    hint = "`bireal export` writes it next to model.onnx"
    for f in ("golden_in.npy", "golden_out.npy"):
        need_file(p.parent / f, f, hint)
    info = need_json(p.parent / "export.json", "export.json", hint)
    if "arch" not in info:
        raise BiRealError(f"{p.parent / 'export.json'} has no 'arch': not a `bireal export`")
    n = info.get("images")
    if images is not None and n is not None and images > n:
        raise BiRealError(f"--images {images}: {p.parent} has golden tensors for {n} images "
                          f"(choose 1..{n}, or re-export with --images {images})")
    return info


def need_build(build_dir, command: str, files=("compile.json", "rtl_model.onnx",
                                              "model_hw.onnx", "estimates.json", "rtl")) -> dict:
    """A `bireal compile` folder with `files`; returns its compile.json."""
    d = Path(build_dir)
    hint = f"give `bireal {command} --build` the folder `bireal compile --out` wrote"
    if not d.is_dir():
        raise BiRealError(f"{d} is not a folder ({hint})")
    missing = [f for f in files if not (d / f).exists()]
    if missing and (d / "model.onnx").is_file() and (d / "export.json").is_file():
        raise BiRealError(f"{d} is an export folder, not a `bireal compile` build: compile it "
                          f"first (`bireal compile --onnx {d / 'model.onnx'} --out DIR`) and "
                          f"give `bireal {command} --build DIR`")
    if missing:
        raise BiRealError(f"{d} is not a `bireal compile` build: no "
                          f"{' and no '.join(missing)} ({hint})")
    info = need_json(d / "compile.json", "compile.json", hint)
    for k in ("onnx", "part", "board", "clock_mhz"):
        if k not in info:
            raise BiRealError(f"{d / 'compile.json'} has no {k!r}: not written by `bireal "
                              "compile` (rerun it)")
    for f in files:
        if f.endswith(".onnx"):
            read_onnx(d / f, f)
    return info


def _out_folder(out) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BiRealError(f"--out {out} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BiRealError(f"--out {out}: cannot create its parent folder ({e.strerror})") from None
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise BiRealError(f"--out {out}: folder is not writable")
    return out


def commit(tmp: Path, out: Path, owned=()):
    """Move tmp's entries into out by rename (owned entries of the previous result go)."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    names = {e.name for e in tmp.iterdir()} | set(owned)
    moved = []
    try:
        for n in sorted(names):
            if os.path.lexists(out / n):
                os.rename(out / n, old / n)
                moved.append(n)
        for e in tmp.iterdir():
            os.rename(e, out / e.name)
    except BaseException:
        for n in moved:                               # put the previous result back
            if not os.path.lexists(out / n):
                os.rename(old / n, out / n)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged(out, owned=()):
    """Yield a temporary sibling folder of out; commit it into out if the block succeeds."""
    out = _out_folder(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    commit(tmp, out, owned)


class Swap:
    """The folder a `swapped` job works in, and where its previous content went meanwhile."""

    def __init__(self, out: Path, prev: Path | None):
        self.out, self.prev = out, prev

    def moved(self, path):
        """path, or its place in the previous content while the job runs (--ckpt OUT/x.pt)."""
        if path is None or self.prev is None:
            return path
        out, p = self.out.resolve(), Path(path).resolve()
        if out not in p.parents:
            return path
        return str(self.prev / "d" / p.relative_to(out))


@contextlib.contextmanager
def swapped(out):
    """Yield a Swap on out, emptied; a failure deletes out and restores the previous content."""
    out = _out_folder(out)
    prev = None
    if out.exists():
        prev = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.previous-"))
        os.rename(out, prev / "d")
    try:
        out.mkdir()
        yield Swap(out, prev)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        if prev is not None:
            os.rename(prev / "d", out)
            prev.rmdir()
        raise
    if prev is not None:
        shutil.rmtree(prev, ignore_errors=True)
