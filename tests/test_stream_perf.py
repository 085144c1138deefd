"""scripts/stream_perf.py's bookkeeping: frames beyond the export's golden images repeat them
(not silently fewer frames divided by the number asked for), and per-frame steady-state
counts are the difference of two runs (fill, weight load and drain cancel)."""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "stream_perf", Path(__file__).resolve().parents[1] / "scripts" / "stream_perf.py")
sp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sp)


def test_frames_repeat_the_golden_images():
    assert sp.cycled(3, 7) == [0, 1, 2, 0, 1, 2, 0]
    assert sp.cycled(12, 3) == [0, 1, 2]
    assert len(sp.cycled(3, 12)) == 12


def test_per_frame_is_the_difference_of_two_runs():
    # a stream with 100 transfers per frame, 20 blocked cycles per steady frame, plus a fill
    # (and weight load) costing 5,000 blocked cycles once in either run
    short = {0: (6 * 100, 5000 + 6 * 20)}
    long = {0: (12 * 100, 5000 + 12 * 20)}
    assert sp.per_frame(short, 6, long, 12) == {0: (100.0, 20.0)}
