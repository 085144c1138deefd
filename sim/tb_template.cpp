// Cycle-accurate AXI-stream testbench for a stitched accelerator (built by sim/verilate.py).
// Port access for this build's widths comes from the generated tb_ports.h (IN_W, OUT_W,
// N_DBG, IN_N32/OUT_N32/DBG_N32 = 32-bit words per value, set_in/get_out/get_dbg_*).
//
// usage: simv in.hex words_in_per_frame words_out_per_frame n_frames out.hex stamps.csv
//             p_backpressure seed timeout_cycles max_cycles [stall.json] [p_in_gap] [wload.hex]
//   p_backpressure: probability out0_V_TREADY is low in a cycle; p_in_gap: probability
//   in0_V_TVALID stays low in a cycle before the next word is offered (0 = DMA always has
//   data); timeout_cycles: cycles with no transfer on either port => stall; max_cycles: 0 = none.
// Cycle c = the c-th rising edge after reset release (0-based); a transfer is stamped with
// the edge that accepts it. Handshakes are sampled just before that edge.
// HAS_WLOAD (tb_ports.h): the top has the weight-load input wload_V; wload.hex (one 64-bit
// beat per line, required then) is streamed through it first, with the input's valid gaps;
// in0_V offers no word before every beat is taken. load_cycles = cycles until the last beat
// was taken (reported separately; frame stamps count from reset release as always).
// exit: 0 done, 2 usage/io error, 3 stall (timeout), 4 max_cycles (or $finish) reached.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "Vdut.h"
#include "verilated.h"
#include "tb_ports.h"

static inline uint32_t rng32(uint64_t& s) {  // xorshift64*
    s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
    return (uint32_t)((s * 2685821657736338717ULL) >> 32);
}
static uint64_t threshold(double p) {  // event happens when rng32() < threshold
    if (p <= 0) return 0;
    if (p >= 1) return 1ULL << 32;
    return (uint64_t)(p * 4294967296.0);
}
static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
static void to_hex(std::string& s, const uint32_t* w, int width) {
    int nd = width > 0 ? (width + 3) / 4 : 1;
    for (int d = nd - 1; d >= 0; --d) s.push_back("0123456789abcdef"[(w[d / 8] >> ((d % 8) * 4)) & 0xf]);
}
static bool read_words(const char* path, std::vector<uint32_t>& buf, uint64_t n) {
    FILE* f = fopen(path, "r");
    if (!f) return false;
    buf.assign(n * IN_N32 + 1, 0);
    char line[8192];
    uint64_t k = 0;
    while (k < n && fgets(line, sizeof line, f)) {
        int len = (int)strlen(line);
        while (len > 0 && hexval(line[len - 1]) < 0) --len;
        if (len == 0) continue;
        uint32_t* w = &buf[k * IN_N32];
        for (int i = len - 1, d = 0; i >= 0 && d < IN_N32 * 8; --i) {
            int v = hexval(line[i]);
            if (v < 0) break;
            w[d / 8] |= (uint32_t)v << ((d % 8) * 4);
            ++d;
        }
        if (IN_W % 32) w[IN_N32 - 1] &= (1u << (IN_W % 32)) - 1;
        ++k;
    }
    fclose(f);
    return k == n;
}

int main(int argc, char** argv) {
    if (argc < 11) {
        fprintf(stderr, "usage: %s in.hex win wout n_frames out.hex stamps.csv p seed timeout "
                        "max_cycles [stall.json] [p_in_gap]\n", argv[0]);
        return 2;
    }
    const uint64_t win = strtoull(argv[2], 0, 10), wout = strtoull(argv[3], 0, 10);
    const uint64_t nfr = strtoull(argv[4], 0, 10);
    const char *out_path = argv[5], *stamps_path = argv[6];
    const uint64_t bp_thr = threshold(atof(argv[7]));
    uint64_t rng = strtoull(argv[8], 0, 10) * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!rng) rng = 1;
    const uint64_t timeout = strtoull(argv[9], 0, 10), max_cycles = strtoull(argv[10], 0, 10);
    std::string stall_path = argc > 11 ? argv[11] : std::string(out_path) + ".stall.json";
    const uint64_t gap_thr = threshold(argc > 12 ? atof(argv[12]) : 0.0);
    std::vector<uint64_t> wl;
#if HAS_WLOAD
    {
        FILE* wf = argc > 13 && argv[13][0] ? fopen(argv[13], "r") : nullptr;
        if (!wf) { fprintf(stderr, "this design loads its weights: give the wload.hex file\n"); return 2; }
        char line[64];
        while (fgets(line, sizeof line, wf)) if (hexval(line[0]) >= 0) wl.push_back(strtoull(line, 0, 16));
        fclose(wf);
        if (wl.empty()) { fprintf(stderr, "no weight-load beats in %s\n", argv[13]); return 2; }
    }
#else
    if (argc > 13 && argv[13][0]) { fprintf(stderr, "this design has no weight-load port (wload_V)\n"); return 2; }
#endif
    const uint64_t wl_total = wl.size();
    if (win == 0 || wout == 0) { fprintf(stderr, "words per frame must be > 0\n"); return 2; }
    const uint64_t in_total = win * nfr, out_total = wout * nfr;
    std::vector<uint32_t> inbuf, outbuf(out_total * OUT_N32 + 1, 0);
    if (!read_words(argv[1], inbuf, in_total)) {
        fprintf(stderr, "cannot read %llu input words from %s\n", (unsigned long long)in_total, argv[1]);
        return 2;
    }
    std::vector<int64_t> st(nfr * 4, -1);  // per frame: first_in, last_in, first_out, last_out

    auto ctx = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vdut>(ctx.get());
    top->ap_rst_n = 0;
    top->in0_V_TVALID = 0;
    top->out0_V_TREADY = 0;
#if HAS_WLOAD
    set_wl_valid(top.get(), false);
#endif
    for (int i = 0; i < 16; ++i) {
        top->ap_clk = 0; top->eval();
        top->ap_clk = 1; top->eval();
    }
    top->ap_clk = 0; top->ap_rst_n = 1; top->eval();

    uint64_t nin = 0, nout = 0, cycle = 0, idle = 0, nwl = 0, load_cycles = 0;
    bool in_valid = false, wl_valid = false;
    const char* reason = nullptr;
    auto t0 = std::chrono::steady_clock::now();
    while (nout < out_total) {
        if (idle >= timeout) { reason = "timeout"; break; }
        if (max_cycles && cycle >= max_cycles) { reason = "max_cycles"; break; }
        if (ctx->gotFinish()) { reason = "finish"; break; }
        top->ap_clk = 0;
#if HAS_WLOAD
        if (!wl_valid && nwl < wl_total) {
            wl_valid = gap_thr == 0 || rng32(rng) >= gap_thr;
            if (wl_valid) set_wl(top.get(), wl[nwl]);
        }
        set_wl_valid(top.get(), wl_valid);
#endif
        if (!in_valid && nin < in_total && nwl == wl_total) {
            in_valid = gap_thr == 0 || rng32(rng) >= gap_thr;
            if (in_valid) set_in(top.get(), &inbuf[nin * IN_N32]);
        }
        top->in0_V_TVALID = in_valid;
        top->out0_V_TREADY = bp_thr == 0 || rng32(rng) >= bp_thr;
        top->eval();
        const bool fin = in_valid && top->in0_V_TREADY;
        const bool fout = top->out0_V_TVALID && top->out0_V_TREADY;
#if HAS_WLOAD
        const bool fwl = wl_valid && get_wl_ready(top.get());
#else
        const bool fwl = false;
#endif
        if (fout) get_out(top.get(), &outbuf[nout * OUT_N32]);
        top->ap_clk = 1;
        top->eval();
        if (fin) {
            uint64_t f = nin / win, k = nin - f * win;
            if (k == 0) st[f * 4 + 0] = cycle;
            if (k == win - 1) st[f * 4 + 1] = cycle;
            ++nin;
            in_valid = false;
        }
        if (fout) {
            uint64_t f = nout / wout, k = nout - f * wout;
            if (k == 0) st[f * 4 + 2] = cycle;
            if (k == wout - 1) st[f * 4 + 3] = cycle;
            ++nout;
        }
        if (fwl) {
            wl_valid = false;
            if (++nwl == wl_total) load_cycles = cycle + 1;
        }
        idle = (fin || fout || fwl) ? 0 : idle + 1;
        ++cycle;
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::string s;
    s.reserve(out_total * ((OUT_W + 3) / 4 + 1) + 1);
    for (uint64_t i = 0; i < nout; ++i) { to_hex(s, &outbuf[i * OUT_N32], OUT_W); s.push_back('\n'); }
    FILE* f = fopen(out_path, "w");
    if (!f) { fprintf(stderr, "cannot write %s\n", out_path); return 2; }
    fwrite(s.data(), 1, s.size(), f);
    fclose(f);
    f = fopen(stamps_path, "w");
    if (!f) { fprintf(stderr, "cannot write %s\n", stamps_path); return 2; }
    fprintf(f, "frame,first_in_cycle,last_in_cycle,first_out_cycle,last_out_cycle\n");
    for (uint64_t i = 0; i < nfr; ++i)
        fprintf(f, "%llu,%lld,%lld,%lld,%lld\n", (unsigned long long)i, (long long)st[i * 4],
                (long long)st[i * 4 + 1], (long long)st[i * 4 + 2], (long long)st[i * 4 + 3]);
    fclose(f);
    if (reason) {
        uint32_t dv[DBG_N32 + 1] = {0}, dr[DBG_N32 + 1] = {0};
        get_dbg_valid(top.get(), dv);
        get_dbg_ready(top.get(), dr);
        std::string hv, hr;
        to_hex(hv, dv, N_DBG);
        to_hex(hr, dr, N_DBG);
        f = fopen(stall_path.c_str(), "w");
        if (!f) { fprintf(stderr, "cannot write %s\n", stall_path.c_str()); return 2; }
        fprintf(f, "{\"reason\": \"%s\", \"cycle\": %llu, \"idle_cycles\": %llu, \"words_in\": %llu, "
                   "\"words_out\": %llu, \"n_dbg\": %d, \"dbg_valid\": \"%s\", \"dbg_ready\": \"%s\"}\n",
                reason, (unsigned long long)cycle, (unsigned long long)idle, (unsigned long long)nin,
                (unsigned long long)nout, N_DBG, hv.c_str(), hr.c_str());
        fclose(f);
    }
    top->final();
    printf("{\"cycles\": %llu, \"wall_s\": %.6f, \"cycles_per_second\": %.1f, \"frames_in\": %llu, "
           "\"frames_out\": %llu, \"words_in\": %llu, \"words_out\": %llu, \"load_beats\": %llu, "
           "\"load_cycles\": %llu, \"stalled\": %s}\n",
           (unsigned long long)cycle, wall, wall > 0 ? cycle / wall : 0.0,
           (unsigned long long)(nin / win), (unsigned long long)(nout / wout),
           (unsigned long long)nin, (unsigned long long)nout, (unsigned long long)nwl,
           (unsigned long long)load_cycles, reason ? "true" : "false");
    fflush(stdout);
    if (!reason) return 0;
    return strcmp(reason, "timeout") == 0 ? 3 : 4;
}
