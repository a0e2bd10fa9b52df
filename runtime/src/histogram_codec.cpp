// HdrHistogram's V2 encoding, zlib compression and base64
// (histogram_codec.hpp). Follows AbstractHistogram.java and
// ZigZagEncoding.java of HdrHistogram 2.1.x.

#include "troupe/runtime/histogram_codec.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <zlib.h>

#include "histogram_access.hpp"

#include "troupe/runtime/error.hpp"

namespace troupe::hdr {

namespace {

constexpr std::size_t header_size = 40;
constexpr std::uint32_t cookie_base_mask = ~std::uint32_t{0xf0};
constexpr std::uint32_t v2_cookie_base = 0x1c849303;
constexpr std::uint32_t v2_compressed_cookie_base = 0x1c849304;
constexpr std::uint32_t v1_cookie_base = 0x1c849301;
constexpr std::uint32_t v1_compressed_cookie_base = 0x1c849302;
constexpr std::uint32_t v0_cookie_base = 0x1c849308;
constexpr std::uint32_t v0_compressed_cookie_base = 0x1c849309;

[[noreturn]] void malformed(const std::string& what) {
  throw error(errc::invalid_argument, "hdr::decode: " + what);
}

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
void put64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
void store32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}
std::uint32_t get32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
std::uint64_t get64(const std::uint8_t* p) { return std::uint64_t{get32(p)} << 32 | get32(p + 4); }

// ZigZag LEB128-64b9B: up to 8 bytes of 7 bits, then a 9th of 8 bits.
void put_zigzag(std::vector<std::uint8_t>& out, std::int64_t signed_value) {
  std::uint64_t v =
      (static_cast<std::uint64_t>(signed_value) << 1) ^ static_cast<std::uint64_t>(signed_value >> 63);
  for (int i = 0; i < 8; ++i) {
    if ((v >> 7) == 0) {
      out.push_back(static_cast<std::uint8_t>(v));
      return;
    }
    out.push_back(static_cast<std::uint8_t>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));  // the 9th byte: all 8 bits
}

// Returns false if the input ends inside a number.
bool get_zigzag(const std::uint8_t*& p, const std::uint8_t* end, std::int64_t& result) {
  std::uint64_t v = 0;
  int i = 0;
  for (; i < 8; ++i) {
    if (p == end) return false;
    const std::uint8_t b = *p++;
    v |= std::uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) break;
  }
  if (i == 8) {
    if (p == end) return false;
    v |= std::uint64_t{*p++} << 56;
  }
  result = static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
  return true;
}

// The V2 header and counts; `payload` ends where the counts end.
histogram decode_v2(const std::uint8_t* header, const std::uint8_t* payload,
                    const std::uint8_t* payload_end) {
  const std::uint32_t cookie = get32(header);
  const std::uint32_t base = cookie & cookie_base_mask;
  if (base == v1_cookie_base || base == v0_cookie_base)
    malformed("V0/V1 encodings (HdrHistogram before 2.1) are not supported, only V2");
  if (base != v2_cookie_base) malformed("no V2 cookie (found " + hex(cookie) + ")");
  const std::uint32_t normalizing_offset = get32(header + 8);
  const auto digits = static_cast<std::int32_t>(get32(header + 12));
  const std::uint64_t lowest = get64(header + 16);
  const std::uint64_t highest = get64(header + 24);
  double ratio;
  const std::uint64_t ratio_bits = get64(header + 32);
  std::memcpy(&ratio, &ratio_bits, sizeof ratio);
  if (normalizing_offset != 0) malformed("a normalizing index offset (a DoubleHistogram) is not supported");
  if (ratio != 1.0) malformed("an integer-to-double ratio other than 1 (a DoubleHistogram) is not supported");
  if (lowest > std::uint64_t{std::numeric_limits<std::int64_t>::max()} ||
      highest > std::uint64_t{std::numeric_limits<std::int64_t>::max()})
    malformed("negative lowest or highest value");

  histogram h(lowest, highest, digits);  // throws on invalid parameters
  std::uint64_t* counts = detail::histogram_access::counts(h);
  const std::size_t length = h.counts_length();
  std::size_t index = 0;
  const std::uint8_t* p = payload;
  while (p < payload_end) {
    std::int64_t value;
    if (!get_zigzag(p, payload_end, value)) malformed("payload ends inside a count");
    if (value < 0) {
      const std::uint64_t zeros = 0 - static_cast<std::uint64_t>(value);
      if (zeros > length - index) malformed("a run of empty slots goes past the end of the counts array");
      index += static_cast<std::size_t>(zeros);
    } else {
      if (index >= length) malformed("more counts than the histogram's range has slots");
      counts[index++] = static_cast<std::uint64_t>(value);
    }
  }
  detail::histogram_access::establish_totals(h);
  return h;
}

}  // namespace

std::vector<std::uint8_t> encode(const histogram& h) {
  std::vector<std::uint8_t> out;
  // Counts up to the highest non-empty slot, the slot of the max
  // (HdrHistogram: countsArrayIndex(maxValue) + 1); an empty histogram
  // encodes its first slot.
  std::size_t limit = h.counts_length();
  while (limit > 1 && h.count_at_index(limit - 1) == 0) --limit;
  out.reserve(header_size + limit * 2);
  put32(out, v2_cookie);
  put32(out, 0);  // payload length, filled in below
  put32(out, 0);  // normalizing index offset
  put32(out, static_cast<std::uint32_t>(h.significant_digits()));
  put64(out, h.lowest_discernible_value());
  put64(out, h.highest_trackable_value());
  put64(out, std::bit_cast<std::uint64_t>(1.0));  // integer-to-double conversion ratio
  for (std::size_t i = 0; i < limit;) {
    const std::uint64_t count = h.count_at_index(i++);
    if (count == 0) {
      std::int64_t zeros = 1;
      while (i < limit && h.count_at_index(i) == 0) {
        ++zeros;
        ++i;
      }
      put_zigzag(out, zeros > 1 ? -zeros : 0);
    } else {
      put_zigzag(out, static_cast<std::int64_t>(count));
    }
  }
  store32(out.data() + 4, static_cast<std::uint32_t>(out.size() - header_size));
  return out;
}

std::vector<std::uint8_t> encode_compressed(const histogram& h, int level) {
  const std::vector<std::uint8_t> plain = encode(h);
  uLongf length = compressBound(static_cast<uLong>(plain.size()));
  std::vector<std::uint8_t> out(8 + length);
  const int rc = compress2(out.data() + 8, &length, plain.data(), static_cast<uLong>(plain.size()), level);
  if (rc != Z_OK) throw error(errc::invalid_argument, "hdr::encode_compressed: zlib compress2 failed");
  store32(out.data(), v2_compressed_cookie);
  store32(out.data() + 4, static_cast<std::uint32_t>(length));
  out.resize(8 + length);
  return out;
}

histogram decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < header_size) malformed("shorter than the 40-byte V2 header");
  const std::uint32_t payload_length = get32(bytes.data() + 4);
  if (payload_length > bytes.size() - header_size) malformed("payload length goes past the end of the input");
  return decode_v2(bytes.data(), bytes.data() + header_size, bytes.data() + header_size + payload_length);
}

histogram decode_compressed(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 8) malformed("shorter than the 8-byte compressed header");
  const std::uint32_t base = get32(bytes.data()) & cookie_base_mask;
  if (base == v1_compressed_cookie_base || base == v0_compressed_cookie_base)
    malformed("V0/V1 encodings (HdrHistogram before 2.1) are not supported, only V2");
  if (base != v2_compressed_cookie_base) malformed("no V2 compressed cookie");
  const std::uint32_t length = get32(bytes.data() + 4);
  if (length > bytes.size() - 8) malformed("compressed length goes past the end of the input");

  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) malformed("zlib inflateInit failed");
  struct ender {
    z_stream* zs;
    ~ender() { inflateEnd(zs); }
  } end_at_exit{&zs};
  zs.next_in = const_cast<Bytef*>(bytes.data() + 8);  // zlib's API is not const-correct
  zs.avail_in = length;
  auto inflate_into = [&](std::uint8_t* dst, std::size_t n) {
    zs.next_out = dst;
    zs.avail_out = static_cast<uInt>(n);
    while (zs.avail_out > 0) {
      const int rc = inflate(&zs, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) break;
      if (rc != Z_OK) malformed(std::string("zlib: ") + (zs.msg ? zs.msg : "inflate failed"));
    }
    return n - zs.avail_out;
  };
  std::uint8_t header[header_size];
  if (inflate_into(header, header_size) != header_size) malformed("inflated data shorter than the V2 header");
  const std::uint32_t payload_length = get32(header + 4);
  // Bound the allocation by what the header's own range can need (9 bytes
  // per slot), so a hostile length cannot ask for gigabytes.
  const std::uint32_t header_cookie_base = get32(header) & cookie_base_mask;
  if (header_cookie_base != v2_cookie_base) malformed("inflated data does not start with a V2 cookie");
  const histogram_layout layout(get64(header + 16), get64(header + 24),
                                static_cast<std::int32_t>(get32(header + 12)));
  if (payload_length > layout.counts_length() * 9) malformed("payload length larger than the range can need");
  std::vector<std::uint8_t> payload(payload_length);
  if (inflate_into(payload.data(), payload.size()) != payload.size())
    malformed("inflated payload shorter than its indicated length");
  return decode_v2(header, payload.data(), payload.data() + payload.size());
}

namespace {
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = std::uint32_t{bytes[i]} << 16 | std::uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(alphabet[(v >> shift) & 63]);
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= std::uint32_t{bytes[i + 1]} << 8;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::vector<std::uint8_t> base64_decode(std::string_view text) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0)
    throw error(errc::invalid_argument, "hdr::base64_decode: length not a multiple of 4");
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int s = k >= 4 - pad ? 0 : sextet(text[i + static_cast<std::size_t>(k)]);
      if (s < 0) throw error(errc::invalid_argument, "hdr::base64_decode: not a base64 character");
      v = v << 6 | static_cast<std::uint32_t>(s);
    }
    out.push_back(static_cast<std::uint8_t>(v >> 16));
    if (pad < 2) out.push_back(static_cast<std::uint8_t>(v >> 8));
    if (pad < 1) out.push_back(static_cast<std::uint8_t>(v));
  }
  return out;
}

}  // namespace troupe::hdr
