// native-bench/xor: the C++ reference for reading Prometheus XOR (Gorilla) chunks, the physical
// limit row of benchmarks/peer-vmctl.ts. Same format as tsdb/chunkenc/xor.go: 2-byte sample count,
// t0 varint + v0 raw 64 bits, t1 delta uvarint + XOR value, then delta-of-delta buckets
// ('0' | '10'+14b | '110'+17b | '1110'+20b | '1111'+64b) and XOR values. Two modes:
//
//   promflux-xor --chunks FILE [--runs 5]    the same work as promflux's tsdb filler (the target row):
//       FILE is the plan (format at readPlan) naming the chunk segment files and, per task, its chunks
//       (file, offset, bytes, samples, series) and window. Per task: pread the chunks from the
//       segment files (neighbours < 64 KiB apart coalesced into one read, as promflux does), check
//       each chunk's length and CRC-32C (hardware crc32 instruction, SSE4.2: what a native reader
//       uses; Go's hash/crc32 does too), decode straight into batch columns (f64 ts, f64 value, u32
//       series, u32 flags, capacity 200 000 rows) and keep rows in [start, end) that increase.
//   promflux-xor --input FILE [--runs 5]     diagnostic: the XOR payloads only, in memory, no CRC, no
//       columns (int64 ts + double value scratch). FILE: repeated (u32 little-endian length, data).
//
// Prints one JSON object: {"samples":N,"chunks":C,"runsMs":[…],"cpuMs":[…],"sumT":…,"sumV":…}
#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <unistd.h>
#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif
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

template <typename T>
size_t decode(const uint8_t* b, size_t len, T* ts, double* vs) {
  if (len < 2) throw std::runtime_error("short chunk");
  size_t n = (size_t(b[0]) << 8) | b[1];
  if (n == 0) return 0;
  BitReader r(b + 2, b + len);
  uint64_t zz = r.uvarint();
  int64_t t = static_cast<int64_t>(zz >> 1) ^ -static_cast<int64_t>(zz & 1);
  uint64_t v = r.bits(64);
  ts[0] = static_cast<T>(t);
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
    ts[i] = static_cast<T>(t);
    std::memcpy(&vs[i], &v, 8);
  }
  return n;
}


// ------------------------------------------------------------------ --chunks: the filler's work

uint32_t crcTable[256];

void initCrcTable() {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    crcTable[i] = c;
  }
}

// CRC-32C (Castagnoli) of n bytes: the SSE4.2 crc32 instruction, 8 bytes at a time.
uint32_t crc32c(const uint8_t* p, size_t n) {
  uint64_t c = 0xffffffffu;
#if defined(__SSE4_2__)
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
  }
  for (; n > 0; n--, p++) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p);
#else
  for (; n > 0; n--, p++) c = crcTable[(c ^ *p) & 0xff] ^ (c >> 8);
#endif
  return static_cast<uint32_t>(c) ^ 0xffffffffu;
}

struct Chunk {
  uint32_t file, series, bytes, samples;
  uint64_t offset;
};
struct Task {
  double startMs, endMs;
  uint32_t series;
  std::vector<Chunk> chunks;  // by series, then mint (the plan's order)
};

// Plan file (little-endian), written by benchmarks/peer-vmctl.ts from promflux's own plan:
//   "PFXPLAN1" | u32 files | files × (u32 length, path bytes) | u32 tasks |
//   tasks × (f64 startMs, f64 endMs, u32 series, u32 chunks, chunks × (u32 file, u32 series,
//   f64 offset, u32 bytes, u32 samples))
std::vector<Task> readPlan(const std::string& path, std::vector<std::string>& files) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  auto rd = [&](void* into, size_t n) {
    if (std::fread(into, 1, n, f) != n) throw std::runtime_error("plan file ends early: " + path);
  };
  auto u32 = [&]() { uint32_t x; rd(&x, 4); return x; };
  auto f64 = [&]() { double x; rd(&x, 8); return x; };
  char magic[8];
  rd(magic, 8);
  if (std::memcmp(magic, "PFXPLAN1", 8) != 0) throw std::runtime_error("not a plan file: " + path);
  files.resize(u32());
  for (auto& name : files) {
    name.resize(u32());
    rd(&name[0], name.size());
  }
  std::vector<Task> tasks(u32());
  for (auto& t : tasks) {
    t.startMs = f64();
    t.endMs = f64();
    t.series = u32();
    t.chunks.resize(u32());
    for (auto& c : t.chunks) {
      c.file = u32();
      c.series = u32();
      c.offset = static_cast<uint64_t>(f64());
      c.bytes = u32();
      c.samples = u32();
    }
  }
  std::fclose(f);
  return tasks;
}

// The batch's columns, as promflux's SharedArrayBuffer layout holds them.
struct Columns {
  std::vector<double> ts, value;
  std::vector<uint32_t> series, flags;
  explicit Columns(size_t cap) : ts(cap), value(cap), series(cap), flags(cap) {}
  void reserve(size_t n) {
    if (n <= ts.size()) return;
    size_t m = std::max(n, ts.size() * 2);
    ts.resize(m), value.resize(m), series.resize(m), flags.resize(m);
  }
};

[[noreturn]] void corrupt(const std::string& file, uint64_t off, const char* what) {
  throw std::runtime_error(file + " at offset " + std::to_string(off) + ": " + what);
}

// One task: read, check, decode into the columns. Returns the rows written.
size_t fillTask(const Task& task, const std::vector<int>& fds, const std::vector<std::string>& files, std::vector<uint8_t>& buf,
                std::vector<size_t>& pos, std::vector<uint32_t>& order, Columns& col) {
  const auto& ch = task.chunks;
  const size_t n = ch.size();
  order.resize(n);
  pos.resize(n);
  for (size_t i = 0; i < n; i++) order[i] = static_cast<uint32_t>(i);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return ch[a].file != ch[b].file ? ch[a].file < ch[b].file : ch[a].offset < ch[b].offset;
  });
  // coalesced positioned reads (gap <= 64 KiB), into one grow-only buffer (+ 16 zero bytes)
  size_t at = 0;
  for (size_t k = 0; k < n;) {
    const Chunk& c0 = ch[order[k]];
    uint64_t start = c0.offset, end = c0.offset + c0.bytes;
    size_t j = k + 1;
    for (; j < n; j++) {
      const Chunk& c = ch[order[j]];
      if (c.file != c0.file || c.offset - end > 65536) break;
      end = std::max<uint64_t>(end, c.offset + c.bytes);
    }
    if (buf.size() < at + (end - start) + 16) buf.resize((at + (end - start) + 16) * 2);
    for (size_t got = 0; got < end - start;) {
      ssize_t r = pread(fds[c0.file], buf.data() + at + got, end - start - got, static_cast<off_t>(start + got));
      if (r <= 0) corrupt(files[c0.file], start + got, "chunk bytes end early");
      got += static_cast<size_t>(r);
    }
    for (size_t q = k; q < j; q++) pos[order[q]] = at + (ch[order[q]].offset - start);
    at += end - start;
    k = j;
  }
  std::memset(buf.data() + at, 0, 16);
  size_t rows = 0;
  double lastT = -1.0 / 0.0;
  uint32_t series = UINT32_MAX;
  for (size_t i = 0; i < n; i++) {
    const Chunk& c = ch[i];
    if (c.series != series) {
      series = c.series;
      lastT = -1.0 / 0.0;
    }
    const uint8_t* p = buf.data() + pos[i];
    // len <uvarint> | encoding <1> | data | CRC32C <4>
    size_t len = 0, q = 0;
    for (int s = 0;; s += 7) {
      uint8_t x = p[q++];
      len |= size_t(x & 0x7f) << s;
      if (x < 0x80) break;
      if (q > 5) corrupt(files[c.file], c.offset, "bad chunk length varint");
    }
    if (q + 1 + len + 4 != c.bytes) corrupt(files[c.file], c.offset, "chunk size differs from the plan");
    const uint8_t* crcAt = p + q + 1 + len;
    const uint32_t want = (uint32_t(crcAt[0]) << 24) | (uint32_t(crcAt[1]) << 16) | (uint32_t(crcAt[2]) << 8) | crcAt[3];
    if (crc32c(p + q, 1 + len) != want) corrupt(files[c.file], c.offset, "chunk CRC-32C mismatch");
    if (p[q] != 1) corrupt(files[c.file], c.offset, "not an XOR chunk");
    col.reserve(rows + c.samples);
    const size_t m = decode(p + q + 1, len, col.ts.data() + rows, col.value.data() + rows);
    if (m != c.samples) corrupt(files[c.file], c.offset, "sample count differs from the plan");
    // the RunWriter's rule: rows in [start, end) above the previous one; all of them, usually
    double* ts = col.ts.data() + rows;
    size_t keep = 0;
    while (keep < m && ts[keep] >= task.startMs && ts[keep] < task.endMs && ts[keep] > lastT) lastT = ts[keep++];
    if (keep < m) {
      double* vs = col.value.data() + rows;
      for (size_t r = keep; r < m; r++) {
        if (ts[r] >= task.startMs && ts[r] < task.endMs && ts[r] > lastT) {
          lastT = ts[keep] = ts[r];
          vs[keep++] = vs[r];
        }
      }
    }
    std::fill(col.series.begin() + rows, col.series.begin() + rows + keep, series);
    std::fill(col.flags.begin() + rows, col.flags.begin() + rows + keep, 0u);
    rows += keep;
  }
  return rows;
}

int runPlan(const std::string& planPath, int runs) {
  initCrcTable();
  std::vector<std::string> files;
  std::vector<Task> tasks = readPlan(planPath, files);
  std::vector<int> fds;
  for (auto& name : files) {
    int fd = open(name.c_str(), O_RDONLY);
    if (fd < 0) throw std::runtime_error("cannot open " + name);
    fds.push_back(fd);
  }
  size_t chunks = 0;
  for (auto& t : tasks) chunks += t.chunks.size();
  Columns col(200000);
  std::vector<uint8_t> buf(1 << 20);
  std::vector<size_t> pos;
  std::vector<uint32_t> order;
  std::vector<double> times, cpuTimes;
  size_t samples = 0;
  double sumT = 0, sumV = 0;
  for (int r = 0; r <= runs; r++) {
    auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    size_t s = 0;
    double st = 0, sv = 0;
    for (auto& t : tasks) {
      size_t rows = fillTask(t, fds, files, buf, pos, order, col);
      s += rows;
      if (r == 0)  // checksum once, untimed: keeps the compiler from dropping the work
        for (size_t i = 0; i < rows; i++) st += col.ts[i], sv += col.value[i] + col.series[i];
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const double cpuMs = 1000.0 * double(std::clock() - c0) / CLOCKS_PER_SEC;
    if (r > 0) {
      times.push_back(ms);
      cpuTimes.push_back(cpuMs);
    } else {
      sumT = st;
      sumV = sv;
    }
    samples = s;
  }
  for (int fd : fds) close(fd);
  std::printf("{\"samples\":%zu,\"chunks\":%zu,\"crc\":\"%s\",\"runsMs\":[", samples, chunks,
#if defined(__SSE4_2__)
              "sse4.2"
#else
              "table"
#endif
  );
  for (size_t i = 0; i < times.size(); i++) std::printf("%s%.3f", i ? "," : "", times[i]);
  std::printf("],\"cpuMs\":[");
  for (size_t i = 0; i < cpuTimes.size(); i++) std::printf("%s%.3f", i ? "," : "", cpuTimes[i]);
  std::printf("],\"sumT\":%.17g,\"sumV\":%.17g}\n", sumT, sumV);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string input, plan;
  int runs = 5;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--input" && i + 1 < argc) input = argv[++i];
    else if (a == "--chunks" && i + 1 < argc) plan = argv[++i];
    else if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::stoi(argv[++i]));
  }
  if (!plan.empty()) {
    try {
      return runPlan(plan, runs);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
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
