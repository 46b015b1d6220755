// Reader for the benchmark data file (format v1, see native-bench/README.md and
// benchmarks/lib/data.ts, which writes it).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pfx {

struct Data {
  uint32_t series = 0;
  size_t rows = 0;
  double seed = 0;
  std::vector<double> offsets;  // series s owns rows [offsets[s], offsets[s+1])
  std::vector<double> ts;       // epoch ms
  std::vector<double> value;
  std::vector<double> zMean;    // per-series z-score parameters
  std::vector<double> zStd;
  std::vector<std::string> keys;  // canonical series keys name{a="x",...}

  size_t begin(uint32_t s) const { return static_cast<size_t>(offsets[s]); }
  size_t end(uint32_t s) const { return static_cast<size_t>(offsets[s + 1]); }
};

// Throws std::runtime_error naming the file and what is wrong.
Data readData(const std::string& path);

}  // namespace pfx
