#include "lineprotocol.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace pfx {

namespace {

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xc0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += char(0xe0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  } else {
    out += char(0xf0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3f));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  }
}

// Decode the JSON string literal starting at key[i] == '"'; returns the index after the closing quote.
size_t jsonString(const std::string& key, size_t i, std::string& out) {
  if (key[i] != '"') throw std::runtime_error("bad series key (expected '\"'): " + key);
  i++;
  while (i < key.size() && key[i] != '"') {
    char c = key[i++];
    if (c != '\\') {
      out += c;
      continue;
    }
    c = key[i++];
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        uint32_t cp = std::stoul(key.substr(i, 4), nullptr, 16);
        i += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && key.compare(i, 2, "\\u") == 0) {
          const uint32_t lo = std::stoul(key.substr(i + 2, 4), nullptr, 16);
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i += 6;
        }
        appendUtf8(out, cp);
        break;
      }
      default: out += c;  // \" \\ \/
    }
  }
  return i + 1;
}

void escape(std::string& out, const std::string& s, const char* special) {
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (std::strchr(special, c)) out += '\\';
    out += c;
  }
}

}  // namespace

std::string seriesPrefix(const std::string& key) {
  std::string out;
  const size_t brace = key.find('{');
  escape(out, key.substr(0, brace), ", ");
  if (brace == std::string::npos) return out;
  size_t i = brace + 1;
  while (i < key.size() && key[i] != '}') {
    const size_t eq = key.find('=', i);
    const std::string name = key.substr(i, eq - i);
    std::string val;
    i = jsonString(key, eq + 1, val);
    if (!val.empty()) {
      out += ',';
      escape(out, name, ",= ");
      out += '=';
      escape(out, val, ",= ");
    }
    if (i < key.size() && key[i] == ',') i++;
  }
  return out;
}

LpStats formatLines(const Data& d, const std::vector<std::string>& prefixes, const std::vector<double>& value,
                    const std::vector<uint32_t>& flags, const std::vector<std::string>& fieldNames,
                    const std::vector<const double*>& cols, std::vector<char>& buf, std::FILE* sink) {
  LpStats st;
  // field keys with their separators, built once: ",mean_5="
  std::vector<std::string> keys;
  size_t keyBytes = 0;
  for (const auto& n : fieldNames) {
    keys.push_back("," + n + "=");
    keyBytes += keys.back().size();
  }
  const size_t nf = cols.size();
  // Worst case per line: 24 bytes per shortest double, 21 per int64 timestamp.
  const size_t fixed = 7 + 24 + keyBytes + nf * 24 + 24;
  for (uint32_t s = 0; s < d.series; s++) {
    const std::string& pre = prefixes[s];
    const size_t a = d.begin(s), b = d.end(s);
    const size_t need = (b - a) * (pre.size() + fixed);
    if (buf.size() < need) buf.resize(need);
    // raw pointer writes into a presized buffer: no per-append capacity check or string object
    char* p = buf.data();
    char* const start = p;
    for (size_t i = a; i < b; i++) {
      if (flags[i] & 2u) continue;
      std::memcpy(p, pre.data(), pre.size());
      p += pre.size();
      std::memcpy(p, " value=", 7);
      p += 7;
      p = fmt::format_to(p, FMT_COMPILE("{}"), value[i]);
      for (size_t k = 0; k < nf; k++) {
        const double v = cols[k][i];
        if (!std::isfinite(v)) continue;
        std::memcpy(p, keys[k].data(), keys[k].size());
        p += keys[k].size();
        p = fmt::format_to(p, FMT_COMPILE("{}"), v);
      }
      *p++ = ' ';
      p = fmt::format_to(p, FMT_COMPILE("{}"), int64_t(d.ts[i]));
      *p++ = '\n';
      st.lines++;
    }
    const size_t n = size_t(p - start);
    st.bytes += n;
    if (sink && n) std::fwrite(start, 1, n, sink);
  }
  return st;
}

}  // namespace pfx
