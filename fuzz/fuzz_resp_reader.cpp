// Fuzz target: the RESP reader path (src/core/resp.hpp resp_reader), as the answer endpoint and
// the Redis client use it: bytes fed in pieces, next() until it needs more, stop at error().
// In the commands mode (accept_inline) a second reader fed the same pieces reads them with
// next_command(), which must give the same arguments and the same error.
// Flags (byte 0): bit 0, accept_inline (the answer endpoint's setting); bits 1-2, the largest
// message: 64 bytes, 4 KiB, 64 KiB or 16 MiB (--max-answer-size's default).
#include "core/resp.hpp"

#include "fuzz_input.hpp"

#include <cstdlib>
#include <string>
#include <vector>

namespace {

// Walks a value the way a caller would read it (and bounds its depth, as a check).
std::size_t walk(const tempest::resp_value& v, int depth) {
  if (depth > 10000) std::abort();
  std::size_t n = v.str.size();
  for (const auto& e : v.elements) n += walk(e, depth + 1);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tempest::fuzz::fuzz_input in(data, size);
  static constexpr std::size_t limits[] = {64, 4096, 65536, 16u << 20};
  bool accept_inline = in.flags() & 1;
  std::size_t limit = limits[(in.flags() >> 1) & 3];
  tempest::resp_reader reader(limit, accept_inline), by_view(limit, accept_inline);
  std::vector<std::vector<std::string>> values, views;
  for (auto piece = in.next_chunk(); !piece.empty(); piece = in.next_chunk()) {
    reader.feed(piece.data(), piece.size());
    while (auto m = reader.next()) {
      if (!reader.error().empty()) std::abort();  // a value and an error at once
      walk(*m, 0);
      if (accept_inline) {
        values.emplace_back();
        for (auto& e : m->elements) values.back().push_back(e.str);
      }
    }
    if (accept_inline) {
      by_view.feed(piece.data(), piece.size());
      while (auto c = by_view.next_command()) views.emplace_back(c->args.begin(), c->args.end());
      if (views != values || by_view.error() != reader.error()) std::abort();  // the two reads disagree
    }
    if (!reader.error().empty()) {
      if (reader.next()) std::abort();  // the stream is unusable after an error
      return 0;
    }
  }
  return 0;
}
