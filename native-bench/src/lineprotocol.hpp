// Line-protocol formatting of the emitted rows: `measurement,tags value=…,feature=… <ms>\n`,
// floats in fmt's shortest round-trip form ({}), NaN features omitted, dropped rows skipped.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "data.hpp"

namespace pfx {

// `measurement,tag=value,…` from a canonical key `name{a="x",b="y"}` (labels already sorted),
// escaped per the line-protocol spec; empty tag values are skipped. Done once per series.
std::string seriesPrefix(const std::string& canonicalKey);

struct LpStats {
  uint64_t lines = 0;
  uint64_t bytes = 0;
};

// Formats every non-dropped row, series by series, into `buf` (reused; cleared after each series,
// like the engine hands each batch's bytes to the sink). When `sink` is non-null the bytes are
// written there too (used by --dump for the cross-check).
LpStats formatLines(const Data& d, const std::vector<std::string>& prefixes, const std::vector<double>& value,
                    const std::vector<uint32_t>& flags, const std::vector<std::string>& fieldNames,
                    const std::vector<const double*>& cols, std::vector<char>& buf, std::FILE* sink);

}  // namespace pfx
