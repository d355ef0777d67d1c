// A request target's path and query, split and normalised once per request (protocol.md 1.3,
// 4.5): the job's "path", the route rules (--priority-routes, --retry-routes) and the
// event-stream prefix all use this one path, so no spelling of a path reaches a worker framework
// (WSGI, Rack, Express) as /pay while escaping a rule written for /pay.
//
// Splitting (RFC 9112 3.2):
//   origin-form   "/p/q?x=1"          -> path "/p/q", query "x=1"
//   absolute-form "http://host/p?x=1" -> path "/p",   query "x=1" (no path after the host: "/")
//   anything else ("*", "host:443")   -> the whole target before '?', not normalised
// Normalising a path that starts with '/' (RFC 3986 6.2.2, plus one step beyond it):
//   - percent-escapes of unreserved characters are decoded ("%70ay" -> "pay", "%2E" -> ".");
//     the other escapes keep their byte, with upper-case hex digits ("%c3%a9" -> "%C3%A9")
//   - dot segments are removed (5.2.4, after decoding: "/a/./b/../c" -> "/a/c")
//   - repeated slashes are collapsed ("//pay" -> "/pay"): beyond RFC 3986, which keeps empty
//     segments, but nginx (merge_slashes), Rails and werkzeug route "//pay" to /pay, so a rule
//     must see it as /pay. Collapsing happens before dot removal ("/a//../b" -> "/b", as
//     nginx and Python's normpath do).
//   - a trailing slash stays ("/a/" and "/a/." -> "/a/"); the query is never changed.
// Refused (400), because frameworks disagree on what such a path means:
//   - ".." above the root ("/../pay", "/a/../../pay"): RFC 3986 clamps it, servers that map paths
//     to files must not; nothing legitimate sends it
//   - "%00": a NUL truncates the path in C-string code
//   - "%2F": WSGI decodes it into PATH_INFO as a separator, Rack and Express keep it as data, so
//     "/pay%2Fadmin" could reach /pay/admin past a rule for /pay/admin (Tomcat and Jetty refuse
//     it by default too)
//   - '%' not followed by two hex digits
//   - a raw '#' (a fragment is not part of a request target; a worker's URL parser would cut
//     the path there) or '\' (the WHATWG URL parser and Node's url.parse read it as '/')
// The path is a view of the target when it is already normal (the common case: no copy, no
// allocation), else of the caller's scratch string.
#pragma once
#include <string>
#include <string_view>

namespace tempest::front {

struct target_parts {
  std::string_view path;   // normalised as above
  std::string_view query;  // "" when there is no '?'
};

enum class target_error { none, climbs_above_root, nul, encoded_slash, bad_escape, bad_char };

// Why a target was refused, for the log.
std::string_view describe(target_error e);

// Splits target and normalises its path into out. On an error, out is unspecified.
target_error parse_target(std::string_view target, std::string& scratch, target_parts& out);

}  // namespace tempest::front
