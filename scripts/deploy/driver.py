"""Host driver of the Bi-Real accelerator: one interface, two backends.

    acc = BirealAccelerator("deploy/", backend="pynq")    # board: Overlay + AXI DMA
    acc = BirealAccelerator("deploy/", backend="sim")     # this repo's Verilator model
    logits = acc.execute(images)                          # float NCHW in, float32 logits out

Path of a batch (everything from config.json, no repo code on the board):
  quantize: codes = round(clip(x / scale + zero_point, min, max)), NCHW -> NHWC
  pack:     NHWC codes -> first layer's folded shape (words_in, elems) per frame; element i of
            a word at bits [i*bits, (i+1)*bits) (two's complement); word = in_word_bytes
            little-endian bytes, back to back
  weights:  (config.json weight_load, URAM builds only) weights.bin, uint64 beats, sent once
            through its own MM2S DMA (axi_dma_wload) right after the overlay is loaded: the
            URAM weight memories have no bitstream contents; a unit computes once loaded
  transfer: pynq: frames -> axi_gpio_frames ch.1, MM2S + S2MM DMA; sim: Verilator
  unpack:   out_word_bytes little-endian bytes per word (zero-extended) -> elements
  logits:   float32(outputs) * float32(host scale), flattened (the host tail of the graph)
run_packed returns (obuf, seconds): pynq = wall time of the DMA transfer (perf_counter);
sim = simulated cycles (first input word accepted -> last output word) / board clock.
Only numpy is imported here; pynq and the repo's sim package load inside their backends.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

_ROUND = {"ROUND": np.round, "HALF_EVEN": np.round, "FLOOR": np.floor, "CEIL": np.ceil,
          "DOWN": np.fix, "UP": lambda x: np.sign(x) * np.ceil(np.abs(x)),
          "HALF_UP": lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5),
          "HALF_DOWN": lambda x: np.sign(x) * np.ceil(np.abs(x) - 0.5)}


class DeployError(RuntimeError):
    """A problem with the deploy package, the inputs or the backend (names file / value)."""


def write_json(path, obj):
    """Write via a temporary file renamed over `path` (never a half-written result)."""
    import os
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class BirealAccelerator:
    """The accelerator of one deploy package. backend: "pynq" (board), "sim" (Verilator) or
    None (host-side methods only); batch_size: frames per transfer in execute()."""

    def __init__(self, deploy_dir=".", backend: str = "pynq", batch_size: int = 64):
        self.dir = Path(deploy_dir).resolve()
        cfg_path = self.dir / "config.json"
        if not cfg_path.is_file():
            raise DeployError(f"{cfg_path} not found: pass the deploy folder written by "
                              "sim.deploy.write_deploy")
        self.cfg = json.loads(cfg_path.read_text())
        if self.cfg.get("format") != 1:
            raise DeployError(f"{cfg_path}: format {self.cfg.get('format')!r}, this driver reads 1")
        if int(batch_size) < 1:
            raise DeployError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.s, self.q = self.cfg["stream"], self.cfg["input_quant"]
        self.image_shape = tuple(self.q["image_shape_chw"])
        self.clock_hz = float(self.cfg["clock_mhz"]) * 1e6
        self.backend_name = backend
        self.last_run: dict = {}
        if backend == "pynq":
            self.backend = _PynqBackend(self)
        elif backend == "sim":
            self.backend = _SimBackend(self)
        elif backend is None:
            self.backend = None                    # host side only: quantize/pack/unpack/logits
        else:
            raise DeployError(f"backend must be 'pynq', 'sim' or None, got {backend!r}")

    # ---------------------------------------------------------------- host side
    def quantize(self, images: np.ndarray) -> np.ndarray:
        """Float images (N, C, H, W) -> integer codes (N, H, W, C) of the input Quant."""
        x = np.asarray(images)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise DeployError(f"images must have shape (N, {', '.join(map(str, self.image_shape))})"
                              f" (N, C, H, W per config.json input_quant.image_shape_chw), "
                              f"got {x.shape}")
        q = self.q
        y = x.astype(np.float32) / np.float32(q["scale"]) + np.float32(q["zero_point"])
        y = np.clip(y, q["min"], q["max"])
        y = _ROUND[q["rounding"].upper()](y) - q["zero_point"]
        return y.astype(np.int64).transpose(0, 2, 3, 1)

    def pack(self, codes: np.ndarray) -> np.ndarray:
        """Codes (N, H, W, C) -> the DMA input buffer (uint8, N * words_in * in_word_bytes)."""
        s = self.s
        c = np.asarray(codes).astype(np.int64)
        if c.ndim != 4 or c.shape[1:] != tuple(self.cfg["input_shape_nhwc"][1:]):
            raise DeployError(f"codes must have shape (N, {self.cfg['input_shape_nhwc'][1:]}) "
                              f"(config.json input_shape_nhwc), got {c.shape}")
        bits, lo, hi = s["in_elem_bits"], self.q["min"], self.q["max"]
        if c.size and (c.min() < lo or c.max() > hi):
            raise DeployError(f"input codes outside [{lo}, {hi}] ({bits}-bit): {c.min()}..{c.max()}")
        words = c.reshape(len(c), *self.cfg["folded_input_shape"][1:]).reshape(
            -1, s["in_elems_per_word"])
        return _to_bytes(words, bits, s["in_word_bytes"])

    def unpack(self, obuf: np.ndarray, n: int) -> np.ndarray:
        """DMA output buffer of n frames -> integer outputs (n, *output_shape[1:])."""
        s = self.s
        want = n * s["words_out"] * s["out_word_bytes"]
        b = np.asarray(obuf, dtype=np.uint8).reshape(-1)
        if b.size != want:
            raise DeployError(f"output buffer has {b.size} bytes, {n} frames need {want} "
                              f"({s['words_out']} words of {s['out_word_bytes']} bytes)")
        vals = _from_bytes(b.reshape(-1, s["out_word_bytes"]), s["out_elems_per_word"],
                           s["out_elem_bits"], s["out_signed"])
        return vals.reshape(n, *self.cfg["output_shape"][1:])

    def logits(self, outputs: np.ndarray) -> np.ndarray:
        """Integer outputs -> float32 logits (n, classes) = float32(out) * float32(scale)."""
        o = np.asarray(outputs)
        y = o.astype(np.float32) * np.float32(self.cfg["host_tail"]["scale"])
        return y.reshape(len(o), -1)

    @staticmethod
    def topk(logits: np.ndarray, k: int = 1) -> np.ndarray:
        """Indices of the k largest logits per row (ties: lower index first, like argmax)."""
        return np.argsort(-np.asarray(logits), axis=1, kind="stable")[:, :k]

    def weight_blob(self):
        """The weight-load beats (uint64) of weights.bin, None without URAM weights."""
        wl = self.cfg.get("weight_load")
        if not wl:
            return None
        f = self.dir / wl["file"]
        if not f.is_file():
            raise DeployError(f"{f} not found (config.json weight_load.file): the package is "
                              "incomplete")
        blob = np.fromfile(f, dtype="<u8")
        if wl.get("beats") is not None and len(blob) != int(wl["beats"]):
            raise DeployError(f"{f}: {len(blob)} beats, config.json says {wl['beats']}")
        return blob

    # ---------------------------------------------------------------- accelerator
    def run_packed(self, ibuf: np.ndarray, n: int):
        """One transfer of n frames: (output buffer uint8, seconds) — see module doc."""
        want = n * self.s["words_in"] * self.s["in_word_bytes"]
        ibuf = np.asarray(ibuf, dtype=np.uint8).reshape(-1)
        if n < 1 or ibuf.size != want:
            raise DeployError(f"input buffer has {ibuf.size} bytes, {n} frames need {want}")
        if self.backend is None:
            raise DeployError("no backend (backend=None): only the host-side methods work")
        obuf, sec = self.backend.run(ibuf, int(n))
        self.last_run = {"frames": int(n), "seconds": sec, **self.backend.info}
        return obuf, sec

    def execute(self, images: np.ndarray, on_batch=None) -> np.ndarray:
        """Float images (N, C, H, W) -> float32 logits, batch_size frames per transfer;
        on_batch(frames, seconds) is called after each transfer (progress, timing)."""
        codes = self.quantize(images)
        out = []
        for i in range(0, len(codes), self.batch_size):
            c = codes[i:i + self.batch_size]
            obuf, sec = self.run_packed(self.pack(c), len(c))
            out.append(self.logits(self.unpack(obuf, len(c))))
            if on_batch:
                on_batch(len(c), sec)
        return np.concatenate(out) if out else np.zeros((0, self.cfg["num_classes"]), np.float32)


def _to_bytes(words: np.ndarray, bits: int, nbytes: int) -> np.ndarray:
    """(W, elems) ints -> W words of nbytes little-endian bytes, element i at bits i*bits."""
    w, e = words.shape
    if e * bits > 8 * nbytes:
        raise DeployError(f"{e} elements of {bits} bits do not fit a {nbytes}-byte word")
    bitv = ((words[..., None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(w, e * bits)
    bitv = np.pad(bitv, ((0, 0), (0, 8 * nbytes - e * bits)))
    return np.packbits(bitv, axis=1, bitorder="little").reshape(-1)


def _from_bytes(b: np.ndarray, elems: int, bits: int, signed: bool) -> np.ndarray:
    """(W, nbytes) little-endian words -> (W, elems) int64 (two's complement if signed)."""
    if bits > 62:
        raise DeployError(f"{bits}-bit output elements are not supported (max 62)")
    bitv = np.unpackbits(b, axis=1, bitorder="little")[:, :elems * bits]
    v = (bitv.reshape(len(b), elems, bits).astype(np.int64) << np.arange(bits)).sum(-1)
    if signed:
        v = np.where(v >> (bits - 1), v - (1 << bits), v)
    return v


class _PynqBackend:
    """The bitstream on a PYNQ board: Overlay, one AXI DMA, the frames-per-transfer GPIO."""

    def __init__(self, acc: BirealAccelerator):
        cfg = acc.cfg
        if not cfg.get("bitfile"):
            raise DeployError(f"{acc.dir / 'config.json'}: bitfile is null (the package was "
                              "written without a bitstream); build it, or use --backend sim")
        bit = acc.dir / cfg["bitfile"]
        if not bit.is_file():
            raise DeployError(f"bitfile {bit} not found (config.json bitfile); the .hwh must "
                              "sit beside it with the same stem")
        try:
            from pynq import Overlay, allocate
        except ImportError as e:
            raise DeployError(f"backend 'pynq' needs the pynq package (run on the PYNQ board "
                              f"image, or use backend 'sim'): {e}") from e
        self.acc, self.allocate = acc, allocate
        self.ol = Overlay(str(bit))
        ip = cfg["ip"]
        for name in (ip["dma"], ip["frames_gpio"]):
            if not hasattr(self.ol, name):
                raise DeployError(f"{bit}: no IP named {name!r} in the overlay "
                                  f"(config.json ip); found {sorted(self.ol.ip_dict)}")
        self.dma, self.gpio = getattr(self.ol, ip["dma"]), getattr(self.ol, ip["frames_gpio"])
        self.gpio.mmio.write(0x4, 0)               # GPIO_TRI (channel 1): all outputs
        self.bufs: dict = {}
        self.load_weights(bit)
        self.info = {"source": "measured on board: wall time of the DMA transfer (perf_counter)"}

    MAX_DMA = (1 << 26) - 8                        # c_sg_length_width 26: bytes per transfer

    def load_weights(self, bit):
        """Send weights.bin once through the weight-load DMA (chunks of < 64 MB); the
        accelerator holds every frame until its URAM weights are in."""
        blob = self.acc.weight_blob()
        if blob is None:
            return
        name = self.acc.cfg["weight_load"]["dma"]
        if not hasattr(self.ol, name):
            raise DeployError(f"{bit}: no IP named {name!r} (config.json weight_load.dma); "
                              f"found {sorted(self.ol.ip_dict)}")
        dma = getattr(self.ol, name)
        buf = self.allocate(shape=(len(blob),), dtype=np.uint64)
        buf[:] = blob
        buf.flush()
        step = self.MAX_DMA // 8
        try:
            for i in range(0, len(blob), step):
                dma.sendchannel.transfer(buf[i:i + step])
                dma.sendchannel.wait()
        except Exception as e:
            raise DeployError(f"weight load ({blob.nbytes} bytes through {name}) failed: {e}") from e
        finally:
            buf.freebuffer()

    def _buffers(self, n: int):
        if n not in self.bufs:
            s = self.acc.s
            self.bufs.clear()                      # keep one pair: CMA memory is scarce
            self.bufs[n] = (self.allocate(shape=(n * s["words_in"] * s["in_word_bytes"],),
                                          dtype=np.uint8),
                            self.allocate(shape=(n * s["words_out"] * s["out_word_bytes"],),
                                          dtype=np.uint8))
        return self.bufs[n]

    def run(self, ibuf: np.ndarray, n: int):
        ib, ob = self._buffers(n)
        ib[:] = ibuf
        ib.flush()
        self.gpio.mmio.write(0x0, n)               # GPIO_DATA (channel 1): frames per TLAST
        try:
            t0 = time.perf_counter()
            self.dma.recvchannel.transfer(ob)
            self.dma.sendchannel.transfer(ib)
            self.dma.sendchannel.wait()
            self.dma.recvchannel.wait()
            sec = time.perf_counter() - t0
        except Exception as e:
            raise DeployError(f"DMA transfer of {n} frames ({ib.nbytes} bytes in, {ob.nbytes} "
                              f"out) failed: {e}; a smaller --batch keeps a transfer under "
                              "the DMA's buffer length limit") from e
        ob.invalidate()
        return np.array(ob, dtype=np.uint8), sec


class _SimBackend:
    """The compiled RTL in this repo's Verilator testbench (sim.run.Design, cached build)."""

    def __init__(self, acc: BirealAccelerator):
        try:
            from sim.run import Design
            from sim.verilate import run
        except ImportError as e:
            raise DeployError("backend 'sim' needs the bireal-fpga repo installed in this Python "
                              f"(pip install -e <repo>; sim.run / sim.verilate): {e}") from e
        sim = acc.cfg["sim"]
        if not (Path(sim["build_dir"]) / "rtl_model.onnx").is_file():
            raise DeployError(f"config.json sim.build_dir: {sim['build_dir']}/rtl_model.onnx "
                              "not found (the compile folder moved or was deleted)")
        self.acc, self.run_fn = acc, run
        self.d = Design(sim["build_dir"])
        if self.d.words_out() != acc.s["words_out"]:
            raise DeployError(f"{sim['build_dir']}: {self.d.words_out()} output words per "
                              f"frame, config.json says {acc.s['words_out']} (stale package)")
        self.timeout = max(100000, 50 * int(sim.get("est_cycles_per_frame") or 0))
        self.wload = acc.weight_blob()             # every simulation starts from reset
        if (self.wload is None) != (not self.d.st.wload):
            raise DeployError(f"{sim['build_dir']}: the design's weight load and config.json "
                              "weight_load disagree (stale package)")
        self.info = {}

    def run(self, ibuf: np.ndarray, n: int):
        s = self.acc.s
        rows = ibuf.reshape(n * s["words_in"], s["in_word_bytes"])
        words = [int.from_bytes(r.tobytes(), "little") for r in rows]
        frames = [words[i:i + s["words_in"]] for i in range(0, len(words), s["words_in"])]
        r = self.run_fn(self.d.exe, frames, s["words_out"], timeout_cycles=self.timeout,
                        wload=self.wload)
        if r.stalled or len(r.outputs) != n or any(len(o) != s["words_out"] for o in r.outputs):
            raise DeployError(f"simulation stalled after {len(r.outputs)}/{n} frames: {r.stall}")
        ob = b"".join(w.to_bytes(s["out_word_bytes"], "little") for o in r.outputs for w in o)
        cycles = int(r.stamps[-1, 3] - r.stamps[0, 0] + 1)
        self.info = {"cycles": cycles, "source": "cycle-accurate simulation: simulated cycles "
                     f"(first input word -> last output word) / {self.acc.clock_hz / 1e6:g} MHz"}
        return np.frombuffer(ob, dtype=np.uint8).copy(), cycles / self.acc.clock_hz
