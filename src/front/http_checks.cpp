#include "front/http_checks.hpp"

#include <strings.h>

namespace tempest::front {
namespace http = boost::beast::http;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

errc check_request_header(const http::request_header<>& h) {
  auto hosts = h.count(http::field::host);
  if (h.version() >= 11 ? hosts != 1 : hosts > 1) return errc::bad_request;
  if (h.count(http::field::content_length) > 1) return errc::bad_request;
  if (h.count(http::field::content_length) == 1 && !all_digits(h[http::field::content_length]))
    return errc::bad_request;  // a list, even of equal values ("1, 1"): never passed on as the value
  auto te_count = h.count(http::field::transfer_encoding);
  if (te_count == 0) return errc::none;
  if (h.version() < 11 || te_count > 1 || h.count(http::field::content_length) > 0) return errc::bad_request;
  // Exactly one field, and its only coding must be chunked.
  std::string_view te = h[http::field::transfer_encoding];
  bool unknown = false;
  std::string_view last;
  while (!te.empty()) {
    auto comma = te.find(',');
    auto coding = trim(te.substr(0, comma));
    te = comma == std::string_view::npos ? std::string_view() : te.substr(comma + 1);
    if (coding.empty()) continue;
    if (!iequals(coding, "chunked")) unknown = true;
    else if (iequals(last, "chunked")) return errc::bad_request;  // chunked twice
    last = coding;
  }
  if (!iequals(last, "chunked")) return errc::bad_request;
  return unknown ? errc::not_implemented : errc::none;
}

}  // namespace tempest::front
