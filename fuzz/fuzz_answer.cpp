// Fuzz target: a worker's answer (src/front/answer.hpp parse_answer), the JSON text of
// `url <id> <json>`. Checks what the front relies on when it writes the HTTP response: a final
// status, header names that are tokens, values that cannot split the header block, no framing
// header from the worker, and a reason whenever an answer is refused; and that parse_answer's
// one-pass reader agrees with the document reader it falls back to (the same verdict, reason
// and answer). The input is the JSON text as is (no fuzz_input prefix).
#include "front/answer.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view json(reinterpret_cast<const char*>(data), size);  // the whole input
  tempest::front::http_answer out, reference;
  std::string why, reference_why;
  bool ok = tempest::front::parse_answer(json, out, why);
  if (ok != tempest::front::parse_answer_document(json, reference, reference_why) || why != reference_why)
    std::abort();
  if (!ok) {
    if (why.empty()) std::abort();
    return 0;
  }
  if (out.status != reference.status || out.headers != reference.headers || out.body != reference.body) std::abort();
  if (out.status < 200 || out.status > 599) std::abort();
  for (const auto& [name, value] : out.headers) {
    if (!tempest::front::is_token(name)) std::abort();
    if (!tempest::front::is_safe_header_value(value)) std::abort();
    if (tempest::front::is_framing_header(name)) std::abort();
  }
  return 0;
}
