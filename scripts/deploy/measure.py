"""Throughput, latency and power of the accelerator of this deploy package.

    python measure.py [--backend pynq|sim] [--batches 1,2,4,8,16,32,64] [--repeats R]
                      [--watts W] [--rails R1,R2] [--power-seconds S] [--dir DIR]
                      [--out measure.json]

Per batch size B (measure.json "results"): R transfers of B frames (packed beforehand, not
timed); seconds = median transfer time, FPS = B / seconds, FPS/W = FPS / watts.
Latency = seconds of a batch of 1. Timing: pynq = wall time of the DMA transfer on the board;
sim = simulated cycles (first input word accepted -> last output word) / board clock.
Power: ZCU104 + pynq: pynq.get_rails() power sensors recorded (pynq.DataRecorder) while the
batch runs for --power-seconds, summed over the rails listed in measure.json; PYNQ-Z2 has no
rail sensors: only --watts (an external meter); sim: not available unless --watts (labelled
user-supplied). Never invented: no power -> watts and FPS/W are null.
Writes measure.json (each number with its source) and measure.png (matplotlib, optional).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from driver import BirealAccelerator, DeployError, write_json


class Power:
    """Where watts come from: user (--watts), board rails (ZCU104), or nowhere."""

    def __init__(self, acc: BirealAccelerator, watts: float | None, rails: str | None):
        self.user, self.rails, self.sensors = watts, None, {}
        board = acc.cfg.get("board") or "?"
        if watts is not None:
            self.source = (f"user-supplied (--watts {watts:g}; external meter, not measured "
                           "by this script)")
        elif acc.backend_name == "sim":
            self.source = "not available (simulation)"
        else:
            import pynq
            found = {k: r.power for k, r in pynq.get_rails().items()
                     if getattr(r, "power", None) is not None}
            want = [r.strip() for r in rails.split(",")] if rails else sorted(found)
            unknown = [r for r in want if r not in found]
            if unknown:
                raise DeployError(f"--rails {unknown} not among the board's power rails "
                                  f"{sorted(found)}")
            self.sensors = {r: found[r] for r in want}
            self.rails = want
            self.source = (f"board rails via pynq.get_rails()/DataRecorder on {board}, summed: "
                           f"{', '.join(want)}" if want else
                           f"not available: {board} has no power rail sensors; pass --watts "
                           "(external meter)")

    def during(self, fn, seconds: float):
        """Mean summed watts while fn() runs repeatedly for >= seconds (None = no sensors)."""
        if self.user is not None:
            return self.user
        if not self.sensors:
            return None
        from pynq import DataRecorder
        rec = DataRecorder(*self.sensors.values())
        with rec.record(0.05):
            t_end = time.perf_counter() + seconds
            while time.perf_counter() < t_end:
                fn()
        cols = [c for c in rec.frame.columns if c != "Mark"]
        return float(rec.frame[cols].sum(axis=1).mean())


def measure(acc: BirealAccelerator, batches: list[int], repeats: int, power: Power,
            power_seconds: float) -> dict:
    ts = np.load(acc.dir / "testset.npz")
    px, div = ts["images"], float(ts["pixel_divisor"])
    need = max(batches + [1])
    idx = np.arange(need) % len(px)
    codes = acc.quantize(px[idx].astype(np.float32) / np.float32(div))
    idle = power.during(lambda: time.sleep(0.05), power_seconds) if power.sensors else None
    rows = []
    for b in sorted(set(batches + [1])):
        ibuf = acc.pack(codes[:b])
        secs, cyc = [], []
        for _ in range(repeats):
            _, s = acc.run_packed(ibuf, b)
            secs.append(s)
            cyc.append(acc.last_run.get("cycles"))
        w = power.during(lambda ib=ibuf, k=b: acc.run_packed(ib, k), power_seconds)
        sec = float(np.median(secs))
        fps = b / sec
        sim = acc.backend_name == "sim"
        rows.append({"batch": b, "repeats": repeats, "seconds": sec, "seconds_repeats": secs,
                     "cycles": int(np.median(cyc)) if sim else None,
                     "cycles_repeats": cyc if sim else None, "fps": fps,
                     "watts": w, "fps_per_watt": fps / w if w else None,
                     "in_batches_requested": b in batches})
    one = rows[0]
    return {
        "backend": acc.backend_name, "board": acc.cfg.get("board"), "arch": acc.cfg.get("arch"),
        "clock_mhz": acc.cfg["clock_mhz"], "timing_source": acc.last_run.get("source"),
        "formulas": {"fps": "frames / seconds (median over repeats)",
                     "fps_per_watt": "FPS / watts", "latency": "seconds of a batch of 1"},
        "results": [r for r in rows if r["in_batches_requested"]],
        "latency": {"seconds": one["seconds"], "ms": 1e3 * one["seconds"], "cycles": one["cycles"],
                    "source": acc.last_run.get("source")},
        "power_source": power.source,
        "power": {"source": power.source, "rails": power.rails, "idle_watts": idle,
                  "sample_seconds": power_seconds if power.sensors else None},
    }


def plot(res: dict, path: Path) -> str:
    """measure.png: FPS vs batch and FPS/W vs batch (or 'power not available')."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no plot"
    b = [r["batch"] for r in res["results"]]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(b, [r["fps"] for r in res["results"]], "o-")
    a1.set(xscale="log", xlabel="batch (frames per transfer)", ylabel="FPS",
           title=f"throughput ({res['backend']})")
    a1.set_xticks(b, [str(x) for x in b])
    eff = [r["fps_per_watt"] for r in res["results"]]
    if any(e is not None for e in eff):
        a2.plot(b, [np.nan if e is None else e for e in eff], "s-", color="tab:green")
        a2.set(xscale="log", xlabel="batch", ylabel="FPS / W", title="efficiency")
        a2.set_xticks(b, [str(x) for x in b])
    else:
        a2.axis("off")
        why = res["power"]["source"].removeprefix("not available").strip(" :")
        a2.text(0.5, 0.5, f"FPS/W: power not available\n{why}", ha="center", va="center",
                wrap=True)
    fig.suptitle(f"{res['arch']} on {res['board']} @ {res['clock_mhz']:g} MHz: "
                 f"{res['timing_source']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"wrote {path}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("pynq", "sim"), default="pynq")
    p.add_argument("--batches", default="1,2,4,8,16,32,64", help="comma list of batch sizes")
    p.add_argument("--repeats", type=int, default=None, help="default 5 (pynq), 1 (sim: exact)")
    p.add_argument("--watts", type=float, default=None, help="external power meter reading, W")
    p.add_argument("--rails", default=None, help="ZCU104 rails to sum (default: all with power)")
    p.add_argument("--power-seconds", type=float, default=2.0,
                   help="run each batch this long while recording rail power (default 2)")
    p.add_argument("--dir", type=Path, default=HERE, help="deploy folder (default: this script's)")
    p.add_argument("--out", type=Path, default=None, help="default DIR/measure.json")
    a = p.parse_args(argv)
    try:
        batches = [int(x) for x in a.batches.split(",") if x.strip()]
    except ValueError:
        p.error(f"--batches must be a comma list of integers, got {a.batches!r}")
    if not batches or min(batches) < 1:
        p.error(f"--batches must be >= 1, got {a.batches!r}")
    if a.watts is not None and a.watts <= 0:
        p.error(f"--watts must be > 0, got {a.watts}")
    if a.repeats is not None and a.repeats < 1:
        p.error(f"--repeats must be >= 1, got {a.repeats}")
    if not a.power_seconds > 0:
        p.error(f"--power-seconds must be > 0, got {a.power_seconds}")
    repeats = a.repeats or (1 if a.backend == "sim" else 5)
    try:
        acc = BirealAccelerator(a.dir.resolve(), backend=a.backend)
        res = measure(acc, batches, repeats, Power(acc, a.watts, a.rails), a.power_seconds)
    except DeployError as e:
        print(f"measure: {e}", file=sys.stderr)
        return 2
    out = a.out or a.dir / "measure.json"
    write_json(out, res)
    for r in res["results"]:
        eff = "n/a" if r["fps_per_watt"] is None else f"{r['fps_per_watt']:.1f}"
        print(f"batch {r['batch']:5d}: {r['fps']:10.1f} FPS  FPS/W {eff}")
    lat = res["latency"]
    print(f"latency (batch 1): {lat['ms']:.3f} ms; timing: {res['timing_source']}")
    print(f"power: {res['power']['source']}")
    print(plot(res, out.with_suffix(".png")))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
