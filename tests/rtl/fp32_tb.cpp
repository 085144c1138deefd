// Bulk Verilator harness for the fp32 units (top: tests/rtl/fp32_tb_top.sv).
//   fp32_tb UNIT IN OUT [P_EN_DROP P_GAP SEED [+PLUSARG ...]]
// IN: uint32 pairs (a, b), little endian, one pair per vector; OUT: one uint32 result per
// vector, in order. Every cycle en is dropped with probability P_EN_DROP and in_valid with
// P_GAP (xorshift, SEED). Checks, failing with exit 1 and a message on stderr: every output
// is taken on an enabled cycle, its latency in enabled cycles is the same for all vectors,
// outputs do not change across a clock edge with en = 0, nothing comes out unasked, and
// nothing more comes out after the last vector. Prints "latency L vectors N cycles C".
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <vector>

#include "Vfp32_tb_top.h"
#include "verilated.h"

static uint64_t rs = 88172645463325252ull;
static double urand() {
  rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
  return (rs >> 11) * (1.0 / 9007199254740992.0);
}

static int fail(const char* msg, uint64_t i) {
  fprintf(stderr, "fp32_tb: %s (vector %llu)\n", msg, (unsigned long long)i);
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s UNIT IN OUT [P_EN_DROP P_GAP SEED]\n", argv[0]);
    return 2;
  }
  const int unit = atoi(argv[1]);
  const double p_drop = argc > 4 ? atof(argv[4]) : 0.0;
  const double p_gap = argc > 5 ? atof(argv[5]) : 0.0;
  if (argc > 6) rs ^= strtoull(argv[6], nullptr, 10) * 0x9E3779B97F4A7C15ull;
  if (unit < 0 || unit > 11) return fail("unknown unit", 0);
  FILE* f = fopen(argv[2], "rb");
  if (!f) return fail("cannot open input", 0);
  std::vector<uint32_t> in;
  uint32_t buf[4096];
  size_t k;
  while ((k = fread(buf, 4, 4096, f)) > 0) in.insert(in.end(), buf, buf + k);
  fclose(f);
  const uint64_t n = in.size() / 2;
  std::vector<uint32_t> out;
  out.reserve(n);

  auto ctx = std::make_unique<VerilatedContext>();
  ctx->commandArgs(argc, argv);  // +plusargs switch the mutants of the mutation test on
  auto top = std::make_unique<Vfp32_tb_top>(ctx.get());
  top->en = 1; top->in_valid = 0; top->a = 0; top->b = 0; top->rst_n = 0;
  for (int c = 0; c < 4; c++) { top->clk = 0; top->eval(); top->clk = 1; top->eval(); }
  top->rst_n = 1;

  std::deque<uint64_t> taken;  // en-cycle at which each pending vector was accepted
  uint64_t i = 0, ecyc = 0, cyc = 0;
  long latency = -1;
  const uint64_t limit = 64 + 20 * (n + 16);
  uint64_t tail = 0;  // enabled cycles after the last output
  while (out.size() < n || tail < 32) {
    if (++cyc > limit) return fail("timeout: outputs missing", out.size());
    const bool en = urand() >= p_drop;
    const bool iv = i < n && urand() >= p_gap;
    top->en = en; top->in_valid = iv;
    top->a = i < n ? in[2 * i] : 0;
    top->b = i < n ? in[2 * i + 1] : 0;
    top->clk = 0; top->eval();
    const bool v = (top->vld >> unit) & 1;
    const uint32_t r = top->res[unit];
    if (en) {
      if (v) {
        if (taken.empty()) return fail("output without an input", out.size());
        const long lat = (long)(ecyc - taken.front());
        taken.pop_front();
        if (latency < 0) latency = lat;
        else if (lat != latency) return fail("latency changed", out.size());
        out.push_back(r);
      }
      if (iv) { taken.push_back(ecyc); i++; }
      ecyc++;
      if (out.size() == n) tail++;
    }
    top->clk = 1; top->eval();
    if (!en) {
      if ((((top->vld >> unit) & 1) != v) || top->res[unit] != r)
        return fail("output changed while en = 0", out.size());
    }
  }
  top->final();
  f = fopen(argv[3], "wb");
  if (!f) return fail("cannot open output", 0);
  fwrite(out.data(), 4, out.size(), f);
  fclose(f);
  printf("latency %ld vectors %llu cycles %llu\n", latency, (unsigned long long)n,
         (unsigned long long)cyc);
  return 0;
}
