// Fuzz target: the request-target normaliser (src/front/request_target.hpp parse_target), which
// decides the path the route rules and the job see. Checks the properties the rules rely on:
// an accepted path is normal (parsing it again gives the same path, without a copy), never
// longer than the target, starts with '/' when the target did, and holds no dot segment, empty
// segment, NUL, '#', '\' or "%2F". The input is the target as is (no fuzz_input prefix).
#include "front/request_target.hpp"

#include <cstdint>
#include <cstdlib>

namespace {

bool has_segment(std::string_view path, std::string_view seg) {
  std::size_t i = 0;
  while (i < path.size()) {
    auto j = path.find('/', i + 1);
    auto s = path.substr(i + 1, (j == std::string_view::npos ? path.size() : j) - i - 1);
    if (s == seg) return true;
    if (j == std::string_view::npos) break;
    i = j;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tempest::front;
  std::string_view target(reinterpret_cast<const char*>(data), size);
  // Beast's parser refuses a request line whose target holds a control character, a space or
  // DEL, so parse_target never sees one: such inputs say nothing about it.
  for (unsigned char c : target)
    if (c <= 0x20 || c == 0x7f) return 0;
  std::string scratch;
  target_parts out;
  if (parse_target(target, scratch, out) != target_error::none) return 0;
  if (out.path.size() > target.size() || out.query.size() > target.size()) std::abort();
  if (target.empty() || target.front() != '/') return 0;  // other forms are not normalised here
  if (out.path.empty() || out.path.front() != '/') std::abort();
  if (out.path.find('#') != std::string_view::npos ||
      out.path.find('\\') != std::string_view::npos || out.path.find("%2F") != std::string_view::npos ||
      out.path.find("//") != std::string_view::npos)
    std::abort();
  if (has_segment(out.path, ".") || has_segment(out.path, "..")) std::abort();
  // Normal form is a fixed point, and takes the no-copy path.
  std::string again_scratch;
  target_parts again;
  std::string path(out.path);
  if (parse_target(path, again_scratch, again) != target_error::none) std::abort();
  if (again.path != path || !again_scratch.empty()) std::abort();
  return 0;
}
