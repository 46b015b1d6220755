#include "kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace pfx {

namespace {
constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr uint64_t STALE_BITS = 0x7ff0000000000002ull;
constexpr double CANCELLATION_LIMIT = 1e3;  // rolling.ts: two-pass when cancellation costs > 3 digits

inline bool valid(const std::vector<double>& v, const std::vector<uint32_t>& f, size_t i) {
  return !(f[i] & FLAG_DROPPED) && v[i] == v[i];
}

inline int minp(int minPeriods, int w) { return minPeriods > 0 ? std::min(minPeriods, w) : w; }

// Sorted window of at most `cap` values (window/sorted-window.ts).
struct Sorted {
  double* b;
  long size;
  void insert(double v) {
    const long lo = std::upper_bound(b, b + size, v) - b;
    std::memmove(b + lo + 1, b + lo, size_t(size - lo) * sizeof(double));
    b[lo] = v;
    size++;
  }
  void remove(double v) {
    const long lo = std::lower_bound(b, b + size, v) - b;
    size--;
    std::memmove(b + lo, b + lo + 1, size_t(size - lo) * sizeof(double));
  }
};
}  // namespace

ValidateCounts validate(const Data& d, const std::vector<double>& value, std::vector<uint32_t>& flags, double nowMs) {
  ValidateCounts c;
  const double futureLimit = nowMs + 300000;
  const double* ts = d.ts.data();
  for (uint32_t s = 0; s < d.series; s++) {
    const size_t a = d.begin(s), b = d.end(s);
    double prevTs = -std::numeric_limits<double>::infinity();
    for (size_t i = a; i < b; i++) {
      const double t = ts[i];
      const double maxPrev = prevTs;  // lookback 1: the previous raw row, dropped or not
      prevTs = t;
      if (flags[i] & FLAG_DROPPED) continue;
      if (t > futureLimit) {
        flags[i] |= FLAG_DROPPED;
        c.future++;
        continue;
      }
      if (t <= maxPrev) {
        flags[i] |= FLAG_DROPPED;
        (t == maxPrev ? c.duplicate : c.outOfOrder)++;
        continue;
      }
      const double v = value[i];
      if (std::isfinite(v)) continue;  // the common case: one test
      uint64_t bits;
      std::memcpy(&bits, &v, 8);
      if (bits == STALE_BITS) c.stale++;
      else if (v != v) c.nan++;
      else c.inf++;
      flags[i] |= FLAG_DROPPED;
    }
  }
  return c;
}

StatSpec parseStat(const std::string& s) {
  if (s == "mean") return {Stat::Mean, s};
  if (s == "std") return {Stat::Std, s};
  if (s == "slope") return {Stat::Slope, s};
  if (s == "zscore") return {Stat::ZScore, s};
  if (s.size() > 1 && s[0] == 'p') return {Stat::Quantile, s, std::stod(s.substr(1)) / 100};
  throw std::runtime_error("unknown stat " + s + " (known: mean, std, slope, zscore, pNN)");
}

std::vector<std::string> RollingSpec::outputs() const {
  std::vector<std::string> o;
  for (int w : windows)
    for (const auto& s : stats) o.push_back(s.label + "_" + std::to_string(w));
  return o;
}

namespace {
// Specialised per stat mix (a tight native loop would be: the compiler drops the unused branches
// and accumulators); the arithmetic is identical in every instantiation.
template <bool needScan, bool sl, bool needQuant>
void rollingImpl(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, const RollingSpec& spec,
                 double* const* outs, RollingScratch& scr) {
  const int W = int(spec.windows.size());
  const int S = int(spec.stats.size());
  const size_t R = d.rows;
  // x: what the windows see, NaN for dropped rows, so inner loops test only v == v (as rolling.ts)
  scr.x.resize(R);
  double* x = scr.x.data();
  for (size_t i = 0; i < R; i++) x[i] = flags[i] & FLAG_DROPPED ? NaN : value[i];
  const double* ts = d.ts.data();
  scr.sorted.resize(W);
  std::vector<Sorted> sw(W);
  std::vector<long> lo(W), order(W), minP(W);
  std::vector<double> aN(W), aS(W), aQ(W), aT(W), aTT(W), aTD(W);
  for (int k = 0; k < W; k++) {
    scr.sorted[k].resize(spec.windows[k]);
    sw[k] = {scr.sorted[k].data(), 0};
    minP[k] = minp(spec.minPeriods, spec.windows[k]);
  }

  // slope fast path (rolling.ts regularSlopeRow): valid-row prefix counts and even-step streaks
  std::vector<long> pc, streak;
  if (sl) {
    pc.resize(R + 1);
    streak.resize(R);
  }
  for (uint32_t s = 0; s < d.series; s++) {
    const long start = long(d.begin(s)), end = long(d.end(s));
    for (int k = 0; k < W; k++) {
      lo[k] = start;
      sw[k].size = 0;
    }
    if (sl) {
      pc[start] = 0;
      for (long i = start; i < end; i++) pc[i + 1] = pc[i] + (x[i] == x[i] ? 1 : 0);
      double prev = NaN;
      if (end > start) streak[start] = 0;
      for (long i = start + 1; i < end; i++) {
        const double dd = ts[i] - ts[i - 1];
        streak[i] = dd == prev && dd > 0 ? streak[i - 1] + 1 : dd > 0 ? 1 : 0;
        prev = dd;
      }
    }
    double shift = 0;  // newest valid value at or before i
    for (long i = start; i < end; i++) {
      const double xi = x[i];
      if (xi == xi) shift = xi;
      const double ti = ts[i];
      bool regular = false;  // largest window dense and evenly spaced: time offsets are -k*step
      // 1. window left edges; sorted windows drop the row that left and take the new one
      for (int k = 0; k < W; k++) {
        const long nl = i - spec.windows[k] + 1;
        if (nl > lo[k]) {
          if (needQuant && x[lo[k]] == x[lo[k]]) sw[k].remove(x[lo[k]]);
          lo[k] = nl;
        }
        if (needQuant && xi == xi) sw[k].insert(xi);
      }
      // 2. one backward scan, snapshotting at each window's left edge (largest edge first)
      if (needScan) {
        for (int k = 0; k < W; k++) order[k] = k;
        for (int a = 1; a < W; a++) {
          const long v = order[a];
          int b = a - 1;
          while (b >= 0 && lo[order[b]] < lo[v]) {
            order[b + 1] = order[b];
            b--;
          }
          order[b + 1] = v;
        }
        double n = 0, sd = 0, sq = 0, st = 0, stt = 0, std_ = 0;
        long j = i;
        if (sl) {
          const long lAll = lo[order[W - 1]];
          regular = i > lAll && pc[i + 1] - pc[lAll] == i - lAll + 1 && i - lAll <= streak[i];
        }
        if (sl && regular) {
          // Σk·d with k = i - j (no timestamp loads); Σt, Σt² are closed forms in n
          double kd = 0, kk = 0;
          for (int q = 0; q < W; q++) {
            const long k = order[q];
            const long l = lo[k];
            for (; j >= l; j--) {
              const double dv = x[j] - shift;
              n++;
              sd += dv;
              sq += dv * dv;
              kd += kk * dv;
              kk++;
            }
            aN[k] = n;
            aS[k] = sd;
            aQ[k] = sq;
            aTD[k] = kd;
          }
        } else for (int q = 0; q < W; q++) {
          const long k = order[q];
          const long l = lo[k];
          for (; j >= l; j--) {
            const double v = x[j];
            if (v != v) continue;
            const double dv = v - shift;
            n++;
            sd += dv;
            sq += dv * dv;
            if (sl) {
              const double dt = (ts[j] - ti) * 0.001;
              st += dt;
              stt += dt * dt;
              std_ += dt * dv;
            }
          }
          aN[k] = n;
          aS[k] = sd;
          aQ[k] = sq;
          aT[k] = st;
          aTT[k] = stt;
          aTD[k] = std_;
        }
      }
      // 3. outputs
      for (int k = 0; k < W; k++) {
        const double n = aN[k];
        const bool ok = n >= double(minP[k]) && n > 0;
        double m2 = NaN, sxx = NaN, sxy = NaN, mean = NaN;
        if (needScan && ok) {
          const double sd = aS[k];
          mean = shift + sd / n;
          m2 = aQ[k] - (sd * sd) / n;
          const double step = sl && regular ? (ti - ts[i - 1]) * 0.001 : 0;
          if (sl && regular) {
            sxy = step * (((n - 1) / 2) * sd - aTD[k]);
            sxx = step * step * ((n * (n * n - 1)) / 12);
          } else if (sl) {
            sxx = aTT[k] - (aT[k] * aT[k]) / n;
            sxy = aTD[k] - (aT[k] * sd) / n;
          }
          if (sl && regular && m2 * CANCELLATION_LIMIT < aQ[k]) {
            double tm2 = 0, b = 0;
            const double tmean = -step * ((n - 1) / 2);
            for (long j = i; j >= lo[k]; j--) {
              const double dv = x[j] - mean;
              tm2 += dv * dv;
              b += (-step * double(i - j) - tmean) * dv;
            }
            m2 = tm2;
            sxy = b;
          } else if (m2 * CANCELLATION_LIMIT < aQ[k] || (sl && !regular && sxx * CANCELLATION_LIMIT < aTT[k])) {
            // exact centred sums for this window (rare)
            double tm2 = 0, tn = 0, tsum = 0;
            for (long j = i; j >= lo[k]; j--) {
              const double v = x[j];
              if (v != v) continue;
              const double dv = v - mean;
              tm2 += dv * dv;
              tn++;
              if (sl) tsum += (ts[j] - ti) * 0.001;
            }
            m2 = tm2;
            if (sl) {
              const double tmean = tsum / tn;
              double a = 0, b = 0;
              for (long j = i; j >= lo[k]; j--) {
                const double v = x[j];
                if (v != v) continue;
                const double dt = (ts[j] - ti) * 0.001 - tmean;
                a += dt * dt;
                b += dt * (v - mean);
              }
              sxx = a;
              sxy = b;
            }
          }
          if (m2 < 0) m2 = 0;
        }
        for (int si = 0; si < S; si++) {
          const StatSpec& st = spec.stats[si];
          double out = NaN;
          switch (st.kind) {
            case Stat::Mean: out = mean; break;
            case Stat::Std:
              if (ok && n >= 2) out = std::sqrt(m2 / (n - 1));
              break;
            case Stat::ZScore:
              if (ok && n >= 2 && xi == xi) {
                const double sdv = std::sqrt(m2 / (n - 1));
                out = sdv == 0 ? 0 : -(aS[k] / n) / sdv;
              }
              break;
            case Stat::Slope:
              if (ok && n >= 2 && sxx > 0) out = sxy / sxx;
              break;
            case Stat::Quantile: {
              const long m = sw[k].size;
              if (m > 0 && m >= minP[k]) {
                // linear interpolation between closest ranks (Polars' QuantileMethod::Linear)
                const double idx = st.q * double(m - 1);
                const long a = long(std::floor(idx));
                const double f = idx - double(a);
                const double va = sw[k].b[a];
                out = f == 0 ? va : va + f * (sw[k].b[a + 1] - va);
              }
              break;
            }
          }
          outs[k * S + si][i] = out;
        }
      }
    }
  }
}
}  // namespace

void rolling(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, const RollingSpec& spec,
             double* const* outs, RollingScratch& scr) {
  bool scan = false, sl = false, quant = false;
  for (const auto& st : spec.stats) {
    if (st.kind == Stat::Quantile) quant = true;
    else scan = true;
    if (st.kind == Stat::Slope) sl = true;
  }
  const int key = (scan ? 4 : 0) | (sl ? 2 : 0) | (quant ? 1 : 0);
  switch (key) {
    case 1: return rollingImpl<false, false, true>(d, value, flags, spec, outs, scr);
    case 4: return rollingImpl<true, false, false>(d, value, flags, spec, outs, scr);
    case 5: return rollingImpl<true, false, true>(d, value, flags, spec, outs, scr);
    case 6: return rollingImpl<true, true, false>(d, value, flags, spec, outs, scr);
    case 7: return rollingImpl<true, true, true>(d, value, flags, spec, outs, scr);
    default: return;  // no stats
  }
}

void rollingMeanStdSliding(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, int w,
                           int minPeriods, double* outMean, double* outStd) {
  const long mp = minp(minPeriods, w);
  for (uint32_t s = 0; s < d.series; s++) {
    const size_t a = d.begin(s), b = d.end(s);
    long n = 0;
    double mean = 0, m2 = 0;
    for (size_t i = a; i < b; i++) {
      if (valid(value, flags, i)) {  // Welford add
        const double x = value[i];
        n++;
        const double dl = x - mean;
        mean += dl / n;
        m2 += dl * (x - mean);
      }
      if (i >= a + w) {  // Welford remove
        const size_t j = i - w;
        if (valid(value, flags, j)) {
          const double y = value[j];
          if (--n == 0) {
            mean = 0;
            m2 = 0;
          } else {
            const double dl = y - mean;
            mean -= dl / n;
            m2 -= dl * (y - mean);
          }
        }
      }
      outMean[i] = n >= mp && n > 0 ? mean : NaN;
      outStd[i] = n >= mp && n >= 2 ? std::sqrt(std::max(m2, 0.0) / double(n - 1)) : NaN;
    }
  }
}

void rollingSlopeSliding(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, int w,
                         int minPeriods, double* out) {
  const long mp = std::max<long>(minp(minPeriods, w), 2);
  const double* ts = d.ts.data();
  for (uint32_t s = 0; s < d.series; s++) {
    const size_t a = d.begin(s), b = d.end(s);
    long n = 0;
    double sx = 0, sy = 0, sxx = 0, sxy = 0, yref = 0;
    bool haveRef = false;
    for (size_t i = a; i < b; i++) {
      if (i > a && n > 0) {  // every x (seconds from the newest row) moves by -dx
        const double dx = (ts[i] - ts[i - 1]) * 0.001;
        sxx += -2 * dx * sx + n * dx * dx;
        sx -= n * dx;
        sxy -= dx * sy;
      }
      if (valid(value, flags, i)) {
        if (!haveRef) {
          yref = value[i];
          haveRef = true;
        }
        n++;
        sy += value[i] - yref;
      }
      if (i >= a + w) {
        const size_t j = i - w;
        if (valid(value, flags, j)) {
          const double xj = (ts[j] - ts[i]) * 0.001, yj = value[j] - yref;
          n--;
          sx -= xj;
          sy -= yj;
          sxx -= xj * xj;
          sxy -= xj * yj;
        }
      }
      double r = NaN;
      if (n >= mp) {
        const double den = n * sxx - sx * sx;
        if (den > 0) r = (n * sxy - sx * sy) / den;
      }
      out[i] = r;
    }
  }
}

void zscoreGiven(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, double* out) {
  // as the JS `scale` kernel in apply mode: (v - center) / scale on every row; a zero or
  // non-finite scale maps kept rows to 0 (NaN stays NaN) and leaves dropped rows untouched
  for (uint32_t s = 0; s < d.series; s++) {
    const size_t a = d.begin(s), b = d.end(s);
    const double m = d.zMean[s], sd = d.zStd[s];
    if (sd == 0 || !std::isfinite(sd)) {
      for (size_t i = a; i < b; i++)
        if (!(flags[i] & FLAG_DROPPED)) out[i] = value[i] == value[i] ? 0.0 : NaN;
      continue;
    }
    for (size_t i = a; i < b; i++) out[i] = (value[i] - m) / sd;
  }
}

}  // namespace pfx

namespace pfx {

void windowEdges(const Data& d, const WindowDef& w, std::vector<long>& lo) {
  lo.resize(d.rows);
  const double* ts = d.ts.data();
  for (uint32_t s = 0; s < d.series; s++) {
    const long a = long(d.begin(s)), b = long(d.end(s));
    long l = a;
    for (long i = a; i < b; i++) {
      if (w.samples > 0) lo[i] = std::max(a, i - w.samples + 1);
      else {
        const double edge = ts[i] - w.ms;
        while (l < i && ts[l] <= edge) l++;
        lo[i] = l;
      }
    }
  }
}

void slidingMeanStd(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, const std::vector<long>& lo,
                    long minP, double* outMean, double* outStd) {
  for (uint32_t s = 0; s < d.series; s++) {
    const long a = long(d.begin(s)), b = long(d.end(s));
    long n = 0, l = a;
    double mean = 0, m2 = 0;
    for (long i = a; i < b; i++) {
      if (valid(value, flags, size_t(i))) {  // Welford add
        const double x = value[i];
        n++;
        const double dl = x - mean;
        mean += dl / double(n);
        m2 += dl * (x - mean);
      }
      for (; l < lo[i]; l++) {  // Welford remove the rows that left
        if (!valid(value, flags, size_t(l))) continue;
        const double y = value[l];
        if (--n == 0) {
          mean = 0;
          m2 = 0;
        } else {
          const double dl = y - mean;
          mean -= dl / double(n);
          m2 -= dl * (y - mean);
        }
      }
      outMean[i] = n >= minP && n > 0 ? mean : NaN;
      outStd[i] = n >= minP && n >= 2 ? std::sqrt(std::max(m2, 0.0) / double(n - 1)) : NaN;
    }
  }
}

void slidingMinMax(const Data& d, const std::vector<double>& value, const std::vector<uint32_t>& flags, const std::vector<long>& lo,
                   long minP, double* outMin, double* outMax, std::vector<long>& dqMin, std::vector<long>& dqMax) {
  dqMin.resize(d.rows);
  dqMax.resize(d.rows);
  for (uint32_t s = 0; s < d.series; s++) {
    const long a = long(d.begin(s)), b = long(d.end(s));
    long h1 = 0, t1 = 0, h2 = 0, t2 = 0, n = 0, l = a;
    for (long i = a; i < b; i++) {
      if (valid(value, flags, size_t(i))) {
        const double v = value[i];
        n++;
        while (t1 > h1 && value[dqMin[t1 - 1]] >= v) t1--;
        dqMin[t1++] = i;
        while (t2 > h2 && value[dqMax[t2 - 1]] <= v) t2--;
        dqMax[t2++] = i;
      }
      for (; l < lo[i]; l++)
        if (valid(value, flags, size_t(l))) n--;
      while (t1 > h1 && dqMin[h1] < lo[i]) h1++;
      while (t2 > h2 && dqMax[h2] < lo[i]) h2++;
      const bool ok = n >= minP && n > 0;
      outMin[i] = ok ? value[dqMin[h1]] : NaN;
      outMax[i] = ok ? value[dqMax[h2]] : NaN;
    }
  }
}

}  // namespace pfx
