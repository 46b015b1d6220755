// Reference kernels with the semantics AND the algorithms of the JS kernels in
// src/transform/kernels/ (validate.ts, rolling.ts; docs/TRANSFORMS.md), as plain single-core loops:
//  - windows over row positions within a series run; dropped or NaN rows are skipped inside the
//    window; min_periods on the valid count (default: the window length, as Polars);
//  - mean/std/slope/z-score: one backward scan per row over the largest window, snapshotting at each
//    smaller window's edge, values shifted by the newest valid value, two-pass fallback when the
//    shifted sums would cancel (O(w) per row: what the JS does for batch-invariant results);
//  - quantiles: sorted window, binary-search insert/delete + memmove, linear interpolation.
// The O(1) sliding variants (Welford add/remove, sliding sums) are here too, as an information-only
// "what a different algorithm would give" figure: they are not what the JS computes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data.hpp"

namespace pfx {

constexpr uint32_t FLAG_DROPPED = 1u << 1;

struct ValidateCounts {
  uint64_t nan = 0, inf = 0, stale = 0, duplicate = 0, outOfOrder = 0, future = 0;
};

// validate's default rules: future timestamps (> now + 5 min), duplicate / out-of-order timestamps
// (lookback 1), NaN, stale markers, ±Inf — all dropped. Same order of checks as the JS kernel.
ValidateCounts validate(const Data& d, const std::vector<double>& value, std::vector<uint32_t>& flags, double nowMs);

enum class Stat { Mean, Std, Quantile, Slope, ZScore };

struct StatSpec {
  Stat kind;
  std::string label;  // mean, std, p50, slope, zscore
  double q = 0;
};

struct RollingSpec {
  std::vector<int> windows;  // sample windows
  std::vector<StatSpec> stats;
  int minPeriods = 0;  // 0 = the window length
  // Output names, JS order: for each window, for each stat: `${label}_${w}`.
  std::vector<std::string> outputs() const;
};

StatSpec parseStat(const std::string& s);

// Per-kernel working memory, reused across calls (the JS kernel's scratch and sorted windows).
struct RollingScratch {
  std::vector<double> x;
  std::vector<std::vector<double>> sorted;
};

// `outs` has spec.outputs().size() columns of d.rows values.
void rolling(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, const RollingSpec& spec,
             double* const* outs, RollingScratch& scratch);

// Information only (different algorithm from the JS): O(1) sliding Welford mean/std and slope.
void rollingMeanStdSliding(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, int w,
                           int minPeriods, double* outMean, double* outStd);
void rollingSlopeSliding(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, int w,
                         int minPeriods, double* out);

// Physical-limit rows for long windows (benchmarks/windows.ts): the textbook O(1) sliding
// algorithms, sample (`samples` rows) or time (`ms`, rows with ts in (t - ms, t]) windows.
// Not batch-invariant (sliding add/remove carries rounding history), which is why promflux does
// not use them; they bound what any O(1) algorithm can reach on one core.
struct WindowDef {
  long samples = 0;
  double ms = 0;
};
void windowEdges(const Data& d, const WindowDef& w, std::vector<long>& lo);
// Sliding Welford (add the new row, remove the rows that left).
void slidingMeanStd(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, const std::vector<long>& lo,
                    long minP, double* outMean, double* outStd);
// Two monotonic deques of row indices.
void slidingMinMax(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, const std::vector<long>& lo,
                   long minP, double* outMin, double* outMax, std::vector<long>& dqMin, std::vector<long>& dqMax);

// (v - mean_s) / std_s with the data file's per-series parameters: the JS `scale` kernel (z-score,
// apply mode, `output` column). Std 0 or NaN → 0 on kept rows.
void zscoreGiven(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, double* out);

}  // namespace pfx
