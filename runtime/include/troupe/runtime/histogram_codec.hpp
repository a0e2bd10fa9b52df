#pragma once
// HdrHistogram's V2 encoding of a histogram, plain and compressed, and the
// base64 that interval logs carry it in (docs/design/histogram.md, "File
// formats"). Bytes are those of HdrHistogram's Java
// AbstractHistogram.encodeIntoByteBuffer / encodeIntoCompressedByteBuffer:
//
//   V2 (big-endian):  int32 cookie 0x1c849313, int32 payload length,
//                     int32 normalizing index offset (0), int32 significant
//                     digits, int64 lowest discernible value, int64 highest
//                     trackable value, float64 integer-to-double ratio
//                     (1.0); then the counts up to the slot of max(), each
//                     a ZigZag LEB128 (at most 9 bytes), a run of k >= 2
//                     empty slots written as -k.
//   compressed:       int32 cookie 0x1c849314, int32 length of the zlib
//                     stream, then the V2 bytes deflated (zlib format).
//
// Not carried by the format: clamped() (the interval log keeps it in a
// comment, histogram_log.hpp) and exact min/max (a decoded histogram has
// them to its precision, as in every HdrHistogram reader).
//
// All functions are thread-safe (no shared state). Decoding throws
// troupe::error (errc::invalid_argument) on anything malformed, naming what.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/runtime/histogram.hpp"

namespace troupe::hdr {

inline constexpr std::uint32_t v2_cookie = 0x1c849313;             // V2 base | 0x10 (TLZE encoding)
inline constexpr std::uint32_t v2_compressed_cookie = 0x1c849314;  // V2 compressed base | 0x10

std::vector<std::uint8_t> encode(const histogram& h);
// zlib level 0..9 or -1 (zlib's default); interval logs use 9, as Java's
// HistogramLogWriter does.
std::vector<std::uint8_t> encode_compressed(const histogram& h, int level = 9);

histogram decode(std::span<const std::uint8_t> bytes);
histogram decode_compressed(std::span<const std::uint8_t> bytes);

// RFC 4648 base64 with padding, no line breaks (as java.util.Base64).
std::string base64_encode(std::span<const std::uint8_t> bytes);
std::vector<std::uint8_t> base64_decode(std::string_view text);

}  // namespace troupe::hdr
