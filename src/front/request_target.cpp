// Splitting and normalising request targets: the rules are in request_target.hpp.
#include "front/request_target.hpp"

namespace tempest::front {
namespace {

// The path of a target once the query is cut off: what follows the authority for absolute-form.
std::string_view raw_path(std::string_view path) {
  // absolute-form (RFC 9112 3.2.2): scheme "://" authority path. A scheme starts with a letter
  // and has no '/', so "/a://b" stays a path (and origin-form, the common case, needs no search).
  if (!path.empty() && path.front() == '/') return path;
  auto scheme = path.find("://");
  if (scheme == std::string_view::npos || scheme == 0 || path.substr(0, scheme).find('/') != std::string_view::npos)
    return path;
  auto slash = path.find('/', scheme + 3);
  return slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
}

// True when the segment starting at p[i] (just after a '/') is empty, "." or "..".
bool odd_segment(std::string_view p, std::size_t i) {
  auto n = p.size();
  if (i < n && p[i] == '/') return true;
  if (i >= n || p[i] != '.') return false;
  if (i + 1 == n || p[i + 1] == '/') return true;
  return p[i + 1] == '.' && (i + 2 == n || p[i + 2] == '/');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool unreserved(int c) {  // RFC 3986 2.3
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// True when p[i] is '%' starting an escape that normalising keeps as it is: upper-case hex, a
// byte that is not unreserved, not NUL and not '/' ("%C3%A9" in a UTF-8 path).
bool normal_escape(std::string_view p, std::size_t i) {
  if (i + 2 >= p.size()) return false;
  char a = p[i + 1], b = p[i + 2];
  if ((a >= 'a' && a <= 'f') || (b >= 'a' && b <= 'f')) return false;
  int hi = hex_value(a), lo = hex_value(b);
  int v = hi * 16 + lo;
  return hi >= 0 && lo >= 0 && v != 0 && v != '/' && !unreserved(v);
}

// The fast path: one scan, true when normalising would change nothing. An empty, "." or ".."
// segment, an escape to decode or check, a '#' or '\' take the slow path.
bool is_normal(std::string_view p) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '%') {
      if (!normal_escape(p, i)) return false;
      i += 2;
    } else if (c == '#' || c == '\\' || (c == '/' && odd_segment(p, i + 1))) {
      return false;
    }
  }
  return true;
}

// Appends the segment of p that starts at i, escapes normalised; i ends on the next '/' or the end.
target_error copy_segment(std::string_view p, std::size_t& i, std::string& out) {
  static constexpr char digits[] = "0123456789ABCDEF";
  for (; i < p.size() && p[i] != '/'; ++i) {
    char c = p[i];
    if (c == '#' || c == '\\') return target_error::bad_char;
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    int hi = i + 2 < p.size() ? hex_value(p[i + 1]) : -1;
    int lo = hi < 0 ? -1 : hex_value(p[i + 2]);
    if (lo < 0) return target_error::bad_escape;
    int v = hi * 16 + lo;
    if (v == 0) return target_error::nul;
    if (v == '/') return target_error::encoded_slash;
    if (unreserved(v)) {
      out.push_back(static_cast<char>(v));
    } else {
      out.push_back('%');
      out.push_back(digits[hi]);
      out.push_back(digits[lo]);
    }
    i += 2;
  }
  return target_error::none;
}

// The slow path: p starts with '/'. Each segment is copied decoded, then dropped when empty
// (collapsing slashes) or ".", or dropped with the one before it when "..". The output is never
// longer than p.
target_error normalise(std::string_view p, std::string& out) {
  out.clear();
  out.reserve(p.size());
  out.push_back('/');
  for (std::size_t i = 1; i <= p.size(); ++i) {  // i: the start of a segment
    std::size_t start = out.size();                // out ends with '/'
    if (auto e = copy_segment(p, i, out); e != target_error::none) return e;
    std::string_view seg(out.data() + start, out.size() - start);
    bool last = i >= p.size();
    if (seg == "..") {
      if (start == 1) return target_error::climbs_above_root;
      out.resize(out.rfind('/', start - 2) + 1);
    } else if (seg == ".") {
      out.resize(start);
    } else if (!seg.empty() && !last) {
      out.push_back('/');
    }
  }
  return target_error::none;
}

}  // namespace

std::string_view describe(target_error e) {
  switch (e) {
    case target_error::none: return "ok";
    case target_error::climbs_above_root: return "the path climbs above the root";
    case target_error::nul: return "the path holds %00";
    case target_error::encoded_slash: return "the path holds an encoded slash %2F";
    case target_error::bad_escape: return "the path holds '%' without two hex digits";
    case target_error::bad_char: return "the path holds '#' or '\\'";
  }
  return "bad target";
}

target_error parse_target(std::string_view target, std::string& scratch, target_parts& out) {
  auto q = target.find('?');
  out.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  out.path = raw_path(target.substr(0, q));
  if (out.path.empty() || out.path.front() != '/' || is_normal(out.path)) return target_error::none;
  if (auto e = normalise(out.path, scratch); e != target_error::none) return e;
  out.path = scratch;
  return target_error::none;
}

}  // namespace tempest::front
