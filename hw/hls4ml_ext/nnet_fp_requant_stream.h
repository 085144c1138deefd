#ifndef NNET_FP_REQUANT_STREAM_H_
#define NNET_FP_REQUANT_STREAM_H_
// bireal-fpga FixedPointRequant as an hls4ml extension layer (io_stream, channels last).
// One stream packet holds one pixel's n_chan values. Exact integer arithmetic:
//   acc   = x * 2^in_frac                          (x is a multiple of 2^-in_frac)
//   y_int = clamp(floor((mult[c] * acc + bias[c] + 2^(shift-1)) / 2^shift), -2^(ob-1), 2^(ob-1)-1)
// and the output fixed type holds y_int as its raw bits (scale 2^-out_frac).
#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct fp_requant_config {
    static const unsigned n_in = 1;
    static const unsigned n_chan = 1;
    static const unsigned shift = 0;
    static const unsigned in_frac = 0;
    static const int out_bits = 8;
    typedef ap_int<64> wide_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void fp_requant(hls::stream<data_T> &data, hls::stream<res_T> &res,
                const typename CONFIG_T::mult_t mult[CONFIG_T::n_chan],
                const typename CONFIG_T::bias_t bias[CONFIG_T::n_chan]) {
    static_assert(data_T::size == CONFIG_T::n_chan, "one stream packet = one pixel's channels");
    static_assert(data_T::value_type::width - data_T::value_type::iwidth == CONFIG_T::in_frac,
                  "the input type must have exactly in_frac fractional bits");
    typedef typename CONFIG_T::wide_t wide_t;
    const wide_t half = (CONFIG_T::shift > 0) ? (wide_t(1) << (CONFIG_T::shift - 1)) : wide_t(0);
    const wide_t lo = -(wide_t(1) << (CONFIG_T::out_bits - 1));
    const wide_t hi = (wide_t(1) << (CONFIG_T::out_bits - 1)) - 1;
RequantPixel:
    for (unsigned p = 0; p < CONFIG_T::n_in / CONFIG_T::n_chan; p++) {
        #pragma HLS PIPELINE
        data_T in = data.read();
        res_T out;
        PRAGMA_DATA_PACK(out)
    RequantChan:
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            typename CONFIG_T::acc_t acc;
            acc.range() = in[c].range();   // raw bits of x = x * 2^in_frac (in_frac = x's frac bits)
            wide_t t = wide_t(acc) * wide_t(mult[c]) + wide_t(bias[c]) + half;
            t >>= CONFIG_T::shift;         // arithmetic shift = floor division
            if (t < lo) t = lo;
            if (t > hi) t = hi;
            typename res_T::value_type y;
            y.range() = t.range(res_T::value_type::width - 1, 0);
            out[c] = y;
        }
        res.write(out);
    }
}

} // namespace nnet

#endif
