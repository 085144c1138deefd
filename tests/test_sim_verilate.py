"""sim/verilate.py: build a Verilator testbench for small AXI-stream designs and run them
cycle-accurately (wide data + wide debug vectors, backpressure, stall reports, build cache)."""
import time

import numpy as np
import pytest

from sim.verilate import build, build_info, run

# 2-stage valid/ready pipeline, out = in + 1 on 72-bit words; dbg vectors are 70 bits wide.
PIPE = """
module pipe (input ap_clk, input ap_rst_n,
  input [71:0] in0_V_TDATA, input in0_V_TVALID, output in0_V_TREADY,
  output [71:0] out0_V_TDATA, output out0_V_TVALID, input out0_V_TREADY,
  output [69:0] dbg_valid, output [69:0] dbg_ready);
  reg [71:0] d0, d1; reg v0, v1;
  wire r1 = !v1 || out0_V_TREADY;
  wire r0 = !v0 || r1;
  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin v0 <= 0; v1 <= 0; end
    else begin
      if (r1) begin v1 <= v0; d1 <= d0 + 72'd1; end
      if (r0) begin v0 <= in0_V_TVALID; d0 <= in0_V_TDATA; end
    end
  end
  assign in0_V_TREADY = r0;
  assign out0_V_TDATA = d1; assign out0_V_TVALID = v1;
  assign dbg_valid = {v1, 67'd0, v0, in0_V_TVALID};
  assign dbg_ready = {out0_V_TREADY, 67'd0, r1, r0};
endmodule
"""

# Accepts N_OK words (8-bit in, 40-bit out = {mem word, in}), then stops accepting forever.
# The 70-bit dbg_valid constant comes from $readmemh("dbg.mem") (relative to the workdir).
STUCK = """
module stuck #(parameter N_OK = 7) (input ap_clk, input ap_rst_n,
  input [7:0] in0_V_TDATA, input in0_V_TVALID, output in0_V_TREADY,
  output [39:0] out0_V_TDATA, output out0_V_TVALID, input out0_V_TREADY,
  output [69:0] dbg_valid, output [69:0] dbg_ready);
  reg [69:0] mem [0:0];
  initial $readmemh("dbg.mem", mem);
  reg [15:0] cnt; reg [39:0] d; reg v;
  wire rdy = (cnt < N_OK) && (!v || out0_V_TREADY);
  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin cnt <= 0; v <= 0; end
    else begin
      if (out0_V_TREADY) v <= 0;
      if (in0_V_TVALID && rdy) begin cnt <= cnt + 1; v <= 1; d <= {mem[0][31:0], in0_V_TDATA}; end
    end
  end
  assign in0_V_TREADY = rdy;
  assign out0_V_TDATA = d; assign out0_V_TVALID = v;
  assign dbg_valid = mem[0];
  assign dbg_ready = {54'd0, cnt};
endmodule
"""
DBG_CONST = 0x2ABCDEF0123456789  # 70-bit value with bits above 64 set


@pytest.fixture(scope="module")
def pipe_exe(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipe")
    (d / "pipe.sv").write_text(PIPE)
    t0 = time.perf_counter()
    exe = build(d / "build", "pipe", [d / "pipe.sv"], 72, 72, n_dbg=70)
    return exe, [d / "pipe.sv"], time.perf_counter() - t0


@pytest.fixture(scope="module")
def stuck_exe(tmp_path_factory):
    d = tmp_path_factory.mktemp("stuck")
    (d / "stuck.sv").write_text(STUCK)
    exe = build(d / "build", "stuck", [d / "stuck.sv"], 8, 40, n_dbg=70, defines={"UNUSED": 1})
    (d / "build" / "dbg.mem").write_text(f"{DBG_CONST:x}\n")
    return exe


def _frames(n, w, seed=0):
    rng = np.random.default_rng(seed)
    return [[int.from_bytes(rng.bytes(9), "little") for _ in range(w)] for _ in range(n)]


def _check_stamps(st, n):
    assert st.shape == (n, 4) and (st >= 0).all()
    assert (st[:, 0] <= st[:, 1]).all() and (st[:, 2] <= st[:, 3]).all()
    assert (st[:, 3] >= st[:, 0]).all() and (st[:, 2] > st[:, 0]).all()
    assert (np.diff(st, axis=0) > 0).all()  # every column strictly increases frame to frame


@pytest.mark.parametrize("bp", [0.0, 0.5])
def test_pipeline_wide(pipe_exe, bp):
    exe, _, _ = pipe_exe
    frames = _frames(5, 40)
    frames[0][0] = (1 << 72) - 1  # wraps to 0
    r = run(exe, frames, 40, backpressure=bp, seed=3)
    mask = (1 << 72) - 1
    assert not r.stalled and r.stall is None
    assert r.outputs == [[(w + 1) & mask for w in f] for f in frames]
    assert r.frames_in == r.frames_out == 5 and r.words_out == 200
    _check_stamps(r.stamps, 5)
    if bp == 0:
        assert r.stamps[0, 0] == 0 and r.stamps[0, 2] == 2  # 2-cycle latency after reset
        assert (r.stamps[:, 1] - r.stamps[:, 0] == 39).all()
        assert 200 <= r.cycles <= 203
    else:
        assert 300 < r.cycles < 600  # ready half the time -> ~2 cycles per word


def test_pipeline_speed(pipe_exe):
    exe, _, secs = pipe_exe
    r = run(exe, _frames(50, 4000, seed=1), 4000, backpressure=0.1)
    assert not r.stalled and r.words_out == 200000
    print(f"\nbuild {secs:.1f} s, {r.cycles} cycles at {r.cycles_per_second / 1e6:.2f} M cycles/s")
    assert r.cycles_per_second > 2e5


def test_pipeline_seed_reproducible(pipe_exe):
    exe, _, _ = pipe_exe
    f = _frames(2, 30)
    a, b = (run(exe, f, 30, backpressure=0.7, seed=9, in_gap=0.3) for _ in range(2))
    c = run(exe, f, 30, backpressure=0.7, seed=10, in_gap=0.3)
    assert a.outputs == b.outputs == c.outputs == [[w + 1 for w in x] for x in f]
    assert np.array_equal(a.stamps, b.stamps) and a.cycles == b.cycles
    assert not np.array_equal(a.stamps, c.stamps)


def test_stall_report(stuck_exe):
    r = run(stuck_exe, [list(range(1, 6)), list(range(6, 11))], 5, timeout_cycles=50)
    assert r.stalled and r.stall["reason"] == "timeout"
    assert r.stall["words_in"] == 7 and r.words_in == 7 and r.words_out == 7
    assert r.stall["dbg_valid"] == DBG_CONST and r.stall["dbg_ready"] == 7
    assert r.stall["idle_cycles"] == 50 and r.cycles == r.stall["cycle"]
    lo = DBG_CONST & 0xFFFFFFFF
    assert r.outputs == [[(lo << 8) | i for i in range(1, 6)], [(lo << 8) | 6, (lo << 8) | 7]]
    assert r.frames_in == r.frames_out == 1
    assert r.stamps[0].tolist()[:2] == [0, 4] and (r.stamps[1, [1, 3]] == -1).all()


def test_max_cycles(stuck_exe):
    r = run(stuck_exe, [[1, 2, 3]], 3, timeout_cycles=1000, max_cycles=2)
    assert r.stalled and r.stall["reason"] == "max_cycles" and r.cycles == 2
    assert r.stall["words_in"] == 2


def test_build_cache(pipe_exe, tmp_path):
    exe, srcs, _ = pipe_exe
    wd = exe.parent
    log_mtime = (wd / "verilator.log").stat().st_mtime_ns
    first = build_info(wd)
    assert first["cached"] is False
    # the build's process tree was sampled: verilator_bin alone takes tens of MB
    assert 10 < first["peak_rss_mb"] < 24_000, first
    t0 = time.perf_counter()
    exe2 = build(wd, "pipe", srcs, 72, 72, n_dbg=70)
    assert exe2 == exe and time.perf_counter() - t0 < 2.0
    assert build_info(wd)["cached"] is True
    assert (wd / "verilator.log").stat().st_mtime_ns == log_mtime


def test_build_error(tmp_path):
    (tmp_path / "bad.sv").write_text("module bad(input ap_clk); wire x = ; endmodule\n")
    with pytest.raises(RuntimeError, match="verilator.log"):
        build(tmp_path / "b", "bad", [tmp_path / "bad.sv"], 8, 8)
