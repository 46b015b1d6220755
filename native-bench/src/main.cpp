// promflux-native: single-core reference timings for the default kernels and line-protocol
// formatting on the shared benchmark data file. Prints one JSON object on stdout.
//
//   promflux-native --input FILE [--runs 5] [--windows 5,15,60] [--quantiles 0.5,0.95]
//                   [--slope-window 60] [--min-periods 0] [--dump DIR] [--lp-only]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "data.hpp"
#include "kernels.hpp"
#include "lineprotocol.hpp"

using namespace pfx;

namespace {

struct Options {
  std::string input;
  std::string dump;
  int runs = 5;
  std::vector<int> windows{5, 15, 60};
  std::vector<double> quantiles{0.5, 0.95};
  int slopeWindow = 60;
  int minPeriods = 0;
  // --o1-windows 60,5760,3600s: O(1) sliding mean/std and min/max per window ("s" = seconds)
  std::vector<std::string> o1Windows;
  // --ow: also time today's O(w) rescan (rolling()) at each sample window of --o1-windows
  bool ow = false;
  // --lp-only: time only the line-protocol rows (benchmarks/encoder.ts); features still computed
  bool lpOnly = false;
};

template <typename T>
std::vector<T> parseList(const std::string& s) {
  std::vector<T> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(static_cast<T>(std::stod(s.substr(i, j - i))));
    i = j + 1;
  }
  return out;
}

Options parseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
      return argv[++i];
    };
    if (a == "--input") o.input = next();
    else if (a == "--dump") o.dump = next();
    else if (a == "--runs") o.runs = std::max(1, std::stoi(next()));
    else if (a == "--windows") o.windows = parseList<int>(next());
    else if (a == "--quantiles") o.quantiles = parseList<double>(next());
    else if (a == "--min-periods") o.minPeriods = std::stoi(next());
    else if (a == "--slope-window") o.slopeWindow = std::stoi(next());
    else if (a == "--o1-windows") {
      const std::string v = next();
      size_t i0 = 0;
      while (i0 <= v.size()) {
        size_t j = v.find(',', i0);
        if (j == std::string::npos) j = v.size();
        if (j > i0) o.o1Windows.push_back(v.substr(i0, j - i0));
        i0 = j + 1;
      }
    } else if (a == "--ow") o.ow = true;
    else if (a == "--lp-only") o.lpOnly = true;
    else throw std::runtime_error("unknown option " + a + " (see native-bench/README.md)");
  }
  if (o.input.empty()) throw std::runtime_error("--input FILE is required");
  return o;
}

std::string qname(double q) {
  return fmt::format("p{}", int(q * 100 + 0.5));
}

struct Timing {
  std::string name;
  std::vector<double> ms;
};

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  const size_t m = xs.size() / 2;
  return xs.size() % 2 ? xs[m] : (xs[m - 1] + xs[m]) / 2;
}

// One untimed warm-up, then `runs` timed calls; `reset` runs untimed before each call.
Timing timeIt(const std::string& name, int runs, const std::function<void()>& reset, const std::function<void()>& fn) {
  Timing t{name, {}};
  reset();
  fn();
  for (int r = 0; r < runs; r++) {
    reset();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    t.ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return t;
}

void writeF64(const std::string& path, const double* p, size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error(path + ": cannot write (does the --dump directory exist?)");
  std::fwrite(p, 8, n, f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parseArgs(argc, argv);
    const Data d = readData(o.input);
    const size_t R = d.rows;
    const double NaN = std::numeric_limits<double>::quiet_NaN();
    const double nowMs = double(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch()).count());

    // The same transform lists as benchmarks/kernels-native.ts (and defaultFeatureSet()).
    auto spec = [&](std::vector<int> windows, std::vector<std::string> stats) {
      RollingSpec r;
      r.windows = std::move(windows);
      for (const auto& st : stats) r.stats.push_back(parseStat(st));
      r.minPeriods = o.minPeriods;
      return r;
    };
    std::vector<std::string> qs;
    for (double q : o.quantiles) qs.push_back(qname(q));
    const RollingSpec meanStd = spec(o.windows, {"mean", "std"});
    const RollingSpec quant = spec(o.windows, qs);
    const RollingSpec slopeZ = spec({o.slopeWindow}, {"slope", "zscore"});
    std::vector<std::string> fsStats{"mean", "std"};
    fsStats.insert(fsStats.end(), qs.begin(), qs.end());
    const RollingSpec fsRolling = spec(o.windows, fsStats);

    std::map<std::string, std::vector<double>> cols;
    auto outsOf = [&](const RollingSpec& r) {
      std::vector<double*> p;
      for (const auto& n : r.outputs()) {
        auto& c = cols[n];
        if (c.size() != R) c.assign(R, NaN);
        p.push_back(c.data());
      }
      return p;
    };
    const auto outMeanStd = outsOf(meanStd), outQuant = outsOf(quant), outSlopeZ = outsOf(slopeZ), outFs = outsOf(fsRolling);
    std::vector<double> slidingMean(R), slidingStd(R), slidingSlope(R), zGiven(R, NaN);

    std::vector<double> value(d.value);
    std::vector<uint32_t> flags(R, 0);
    RollingScratch scratch;
    ValidateCounts counts;
    auto resetAll = [&]() {
      std::copy(d.value.begin(), d.value.end(), value.begin());
      std::fill(flags.begin(), flags.end(), 0u);
    };
    auto validated = [&]() {
      resetAll();
      counts = validate(d, value, flags, nowMs);
    };

    std::vector<Timing> t;
    if (!o.lpOnly) {
      t.push_back(timeIt("validate", o.runs, resetAll, [&]() { counts = validate(d, value, flags, nowMs); }));
      t.push_back(timeIt("rolling_mean_std", o.runs, validated, [&]() { rolling(d, value, flags, meanStd, outMeanStd.data(), scratch); }));
      t.push_back(timeIt("rolling_quantiles", o.runs, validated, [&]() { rolling(d, value, flags, quant, outQuant.data(), scratch); }));
      t.push_back(timeIt("slope_zscore", o.runs, validated, [&]() { rolling(d, value, flags, slopeZ, outSlopeZ.data(), scratch); }));
      t.push_back(timeIt("feature_set", o.runs, resetAll, [&]() {
        counts = validate(d, value, flags, nowMs);
        rolling(d, value, flags, fsRolling, outFs.data(), scratch);
        rolling(d, value, flags, slopeZ, outSlopeZ.data(), scratch);
      }));
      // Information only: other algorithms than the JS kernels use (see kernels.hpp).
      t.push_back(timeIt("rolling_mean_std_sliding", o.runs, validated, [&]() {
        for (int w : o.windows) rollingMeanStdSliding(d, value, flags, w, o.minPeriods, slidingMean.data(), slidingStd.data());
      }));
      t.push_back(timeIt("slope_sliding", o.runs, validated, [&]() {
        rollingSlopeSliding(d, value, flags, o.slopeWindow, o.minPeriods, slidingSlope.data());
      }));
      // Long-window physical limits: O(1) sliding mean/std and min/max per window.
      std::vector<long> lo, dqA, dqB;
      std::vector<double> o1a(R), o1b(R);
      for (const auto& ws : o.o1Windows) {
        WindowDef w;
        if (!ws.empty() && ws.back() == 's') w.ms = std::stod(ws.substr(0, ws.size() - 1)) * 1000;
        else w.samples = std::stol(ws);
        if (w.samples <= 0 && w.ms <= 0) throw std::runtime_error("--o1-windows: bad window " + ws);
        windowEdges(d, w, lo);
        const long mp = w.samples > 0 ? (o.minPeriods > 0 ? std::min<long>(o.minPeriods, w.samples) : w.samples) : std::max(1, o.minPeriods);
        t.push_back(timeIt("o1_mean_std_" + ws, o.runs, validated, [&]() { slidingMeanStd(d, value, flags, lo, mp, o1a.data(), o1b.data()); }));
        t.push_back(timeIt("o1_min_max_" + ws, o.runs, validated, [&]() { slidingMinMax(d, value, flags, lo, mp, o1a.data(), o1b.data(), dqA, dqB); }));
        if (o.ow && w.samples > 0) {
          const RollingSpec ms1 = spec({int(w.samples)}, {"mean", "std"});
          std::vector<double> c1(R), c2(R);
          double* outs[2] = {c1.data(), c2.data()};
          t.push_back(timeIt("ow_mean_std_" + ws, o.runs, validated, [&]() { rolling(d, value, flags, ms1, outs, scratch); }));
        }
    }
    t.push_back(timeIt("zscore_given", o.runs, validated, [&]() { zscoreGiven(d, value, flags, zGiven.data()); }));
    }

    // The feature set's columns, in output order, for line protocol and --dump.
    validated();
    rolling(d, value, flags, fsRolling, outFs.data(), scratch);
    rolling(d, value, flags, slopeZ, outSlopeZ.data(), scratch);
    std::vector<std::string> names = fsRolling.outputs();
    for (const auto& n : slopeZ.outputs()) names.push_back(n);
    std::vector<const double*> colPtrs;
    for (const auto& n : names) colPtrs.push_back(cols[n].data());
    std::vector<std::string> prefixes;
    for (const auto& k : d.keys) prefixes.push_back(seriesPrefix(k));
    std::vector<char> lpBuf;
    LpStats lp;
    t.push_back(timeIt("lineprotocol", o.runs, []() {}, [&]() { lp = formatLines(d, prefixes, value, flags, names, colPtrs, lpBuf, nullptr); }));
    // The backfill shape: one field per line (`value` only).
    const std::vector<std::string> noNames;
    const std::vector<const double*> noCols;
    LpStats lpValue;
    t.push_back(timeIt("lineprotocol_value", o.runs, []() {}, [&]() { lpValue = formatLines(d, prefixes, value, flags, noNames, noCols, lpBuf, nullptr); }));

    if (!o.dump.empty()) {
      for (size_t k = 0; k < names.size(); k++) writeF64(o.dump + "/" + names[k] + ".f64", colPtrs[k], R);
      writeF64(o.dump + "/zscore_given.f64", zGiven.data(), R);
      std::FILE* f = std::fopen((o.dump + "/flags.u32").c_str(), "wb");
      if (!f) throw std::runtime_error(o.dump + ": cannot write flags.u32");
      std::fwrite(flags.data(), 4, R, f);
      std::fclose(f);
      f = std::fopen((o.dump + "/lines.lp").c_str(), "wb");
      if (!f) throw std::runtime_error(o.dump + ": cannot write lines.lp");
      formatLines(d, prefixes, value, flags, names, colPtrs, lpBuf, f);
      std::fclose(f);
    }

    std::string out = "{";
    out += fmt::format("\"input\":\"{}\",\"rows\":{},\"series\":{},\"runs\":{},", o.input, R, d.series, o.runs);
    out += fmt::format("\"compiler\":\"g++ {}.{}.{}\",\"fmt\":{},\"minPeriods\":{},", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__,
                       FMT_VERSION, o.minPeriods);
    out += fmt::format("\"dropped\":{{\"nan\":{},\"inf\":{},\"stale\":{},\"duplicate\":{},\"out_of_order\":{},\"future\":{}}},",
                       counts.nan, counts.inf, counts.stale, counts.duplicate, counts.outOfOrder, counts.future);
    out += fmt::format("\"lineprotocol\":{{\"lines\":{},\"bytes\":{}}},", lp.lines, lp.bytes);
    out += fmt::format("\"lineprotocolValue\":{{\"lines\":{},\"bytes\":{}}},", lpValue.lines, lpValue.bytes);
    out += "\"features\":[";
    for (size_t k = 0; k < names.size(); k++) out += fmt::format("{}\"{}\"", k ? "," : "", names[k]);
    out += "],\"kernels\":[";
    for (size_t k = 0; k < t.size(); k++) {
      const double med = median(t[k].ms);
      const double best = *std::min_element(t[k].ms.begin(), t[k].ms.end());
      out += fmt::format("{}{{\"name\":\"{}\",\"medianMs\":{},\"bestMs\":{},\"samplesPerSec\":{},\"bestSamplesPerSec\":{},\"ms\":[",
                         k ? "," : "", t[k].name, med, best, R / (med / 1000), R / (best / 1000));
      for (size_t r = 0; r < t[k].ms.size(); r++) out += fmt::format("{}{}", r ? "," : "", t[k].ms[r]);
      out += "]}";
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "promflux-native: %s\n", e.what());
    return 1;
  }
}
