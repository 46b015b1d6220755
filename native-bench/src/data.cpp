#include "data.hpp"

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace pfx {

namespace {
constexpr size_t kHeader = 64;
constexpr char kMagic[8] = {'P', 'F', 'X', 'B', 'N', 'C', 'H', '1'};

template <typename T>
T at(const std::vector<char>& b, size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));  // file is little-endian, so is x86-64
  return v;
}

void take(const std::vector<char>& b, size_t& off, std::vector<double>& dst, size_t n) {
  dst.resize(n);
  std::memcpy(dst.data(), b.data() + off, n * sizeof(double));
  off += n * sizeof(double);
}
}  // namespace

Data readData(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error(path + ": cannot open benchmark data file");
  const auto size = static_cast<size_t>(f.tellg());
  f.seekg(0);
  std::vector<char> b(size);
  if (!f.read(b.data(), static_cast<std::streamsize>(size))) throw std::runtime_error(path + ": read failed");
  if (size < kHeader || std::memcmp(b.data(), kMagic, 8) != 0)
    throw std::runtime_error(path + ": not a promflux benchmark data file (bad magic)");
  if (at<uint32_t>(b, 8) != 1) throw std::runtime_error(path + ": unsupported format version (expected 1)");
  Data d;
  d.series = at<uint32_t>(b, 12);
  d.rows = static_cast<size_t>(at<double>(b, 16));
  d.seed = at<double>(b, 24);
  const uint32_t keyBytes = at<uint32_t>(b, 32);
  const size_t f64 = d.series + 1 + 2 * d.rows + 2 * size_t(d.series);
  if (size != kHeader + f64 * 8 + keyBytes) throw std::runtime_error(path + ": truncated or corrupt data file");
  size_t off = kHeader;
  take(b, off, d.offsets, d.series + 1);
  take(b, off, d.ts, d.rows);
  take(b, off, d.value, d.rows);
  take(b, off, d.zMean, d.series);
  take(b, off, d.zStd, d.series);
  size_t start = off;
  for (size_t i = off; i < off + keyBytes; i++) {
    if (b[i] == '\n') {
      d.keys.emplace_back(b.data() + start, i - start);
      start = i + 1;
    }
  }
  if (d.keys.size() != d.series) throw std::runtime_error(path + ": series key table does not match series count");
  return d;
}

}  // namespace pfx
