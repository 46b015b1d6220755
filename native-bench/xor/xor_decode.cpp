// promflux-xor: single-core reference for decoding Prometheus XOR (Gorilla) chunks, the physical
// limit row of benchmarks/peer-vmctl.ts. Same format as tsdb/chunkenc/xor.go: 2-byte sample count,
// t0 varint + v0 raw 64 bits, t1 delta uvarint + XOR value, then delta-of-delta buckets
// ('0' | '10'+14b | '110'+17b | '1110'+20b | '1111'+64b) and XOR values. Decodes into timestamp
// and value arrays (as promflux decodes into batch columns) and prints one JSON object:
//   {"samples":N,"chunks":C,"runsMs":[…],"sumT":…,"sumV":…}
//
//   promflux-xor --input FILE [--runs 5]     FILE: repeated (u32 little-endian length, XOR chunk data)
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct BitReader {
  const uint8_t* p;
  const uint8_t* end;
  uint64_t buf = 0;  // bits left-aligned
  int valid = 0;

  BitReader(const uint8_t* b, const uint8_t* e) : p(b), end(e) {}

  inline void refill() {
    while (valid <= 56) {
      uint64_t byte = p < end ? *p : 0;
      if (p < end) p++;
      buf |= byte << (56 - valid);
      valid += 8;
    }
  }
  inline uint64_t bits(int n) {  // n in 1..64
    if (n > 56) {
      uint64_t hi = bits(32);
      return (hi << (n - 32)) | bits(n - 32);
    }
    if (valid < n) refill();
    uint64_t v = buf >> (64 - n);
    buf <<= n;
    valid -= n;
    return v;
  }
  inline int bit() { return static_cast<int>(bits(1)); }
  uint64_t uvarint() {
    uint64_t x = 0;
    int s = 0;
    for (int i = 0; i < 10; i++) {
      uint64_t c = bits(8);
      x |= (c & 0x7f) << s;
      if (c < 0x80) return x;
      s += 7;
    }
    throw std::runtime_error("bad varint");
  }
};

size_t decode(const uint8_t* b, size_t len, int64_t* ts, double* vs) {
  if (len < 2) throw std::runtime_error("short chunk");
  size_t n = (size_t(b[0]) << 8) | b[1];
  if (n == 0) return 0;
  BitReader r(b + 2, b + len);
  uint64_t zz = r.uvarint();
  int64_t t = static_cast<int64_t>(zz >> 1) ^ -static_cast<int64_t>(zz & 1);
  uint64_t v = r.bits(64);
  ts[0] = t;
  std::memcpy(&vs[0], &v, 8);
  if (n == 1) return 1;
  int64_t delta = static_cast<int64_t>(r.uvarint());
  int leading = 0, trailing = 0;
  for (size_t i = 1; i < n; i++) {
    if (i > 1) {
      int64_t dod = 0;
      if (r.bit()) {
        int sz;
        if (!r.bit()) sz = 14;
        else if (!r.bit()) sz = 17;
        else if (!r.bit()) sz = 20;
        else sz = 64;
        uint64_t bitsv = r.bits(sz);
        if (sz == 64) dod = static_cast<int64_t>(bitsv);
        else {
          int64_t half = int64_t(1) << (sz - 1);
          dod = static_cast<int64_t>(bitsv) > half ? static_cast<int64_t>(bitsv) - 2 * half : static_cast<int64_t>(bitsv);
        }
      }
      delta += dod;
    }
    t += delta;
    if (r.bit()) {
      if (r.bit()) {
        leading = static_cast<int>(r.bits(5));
        int mbits = static_cast<int>(r.bits(6));
        if (mbits == 0) mbits = 64;
        trailing = 64 - leading - mbits;
      }
      int mbits = 64 - leading - trailing;
      v ^= r.bits(mbits) << trailing;
    }
    ts[i] = t;
    std::memcpy(&vs[i], &v, 8);
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string input;
  int runs = 5;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--input" && i + 1 < argc) input = argv[++i];
    else if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::stoi(argv[++i]));
  }
  FILE* f = std::fopen(input.c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "cannot open %s\n", input.c_str());
    return 2;
  }
  std::vector<uint8_t> data;
  uint8_t tmp[1 << 16];
  size_t got;
  while ((got = std::fread(tmp, 1, sizeof tmp, f)) > 0) data.insert(data.end(), tmp, tmp + got);
  std::fclose(f);
  std::vector<std::pair<size_t, size_t>> chunks;
  for (size_t o = 0; o + 4 <= data.size();) {
    uint32_t l = data[o] | (data[o + 1] << 8) | (data[o + 2] << 16) | (uint32_t(data[o + 3]) << 24);
    chunks.emplace_back(o + 4, l);
    o += 4 + l;
  }
  std::vector<int64_t> ts(1 << 16);
  std::vector<double> vs(1 << 16);
  std::vector<double> times, cpuTimes;
  size_t samples = 0;
  double sumT = 0, sumV = 0;
  for (int r = 0; r <= runs; r++) {
    auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();  // process CPU time: the machine may be shared
    size_t s = 0;
    double st = 0, sv = 0;
    for (auto& c : chunks) {
      size_t n = decode(data.data() + c.first, c.second, ts.data(), vs.data());
      for (size_t i = 0; i < n; i++) {
        st += double(ts[i]);
        sv += vs[i];
      }
      s += n;
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const double cpuMs = 1000.0 * double(std::clock() - c0) / CLOCKS_PER_SEC;
    if (r > 0) {  // run 0 warms the caches
      times.push_back(ms);
      cpuTimes.push_back(cpuMs);
    }
    samples = s;
    sumT = st;
    sumV = sv;
  }
  std::printf("{\"samples\":%zu,\"chunks\":%zu,\"runsMs\":[", samples, chunks.size());
  for (size_t i = 0; i < times.size(); i++) std::printf("%s%.3f", i ? "," : "", times[i]);
  std::printf("],\"cpuMs\":[");
  for (size_t i = 0; i < cpuTimes.size(); i++) std::printf("%s%.3f", i ? "," : "", cpuTimes[i]);
  std::printf("],\"sumT\":%.17g,\"sumV\":%.17g}\n", sumT, sumV);
  return 0;
}
