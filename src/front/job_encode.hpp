// Encodes an HTTP request as a job, the original wire format (docs/protocol.md, "Jobs"):
//   ["url", [{method, url, path, query, headers, body?, body_encoding?, remote_addr,
//             http_version}], respond_to, job_id]
// headers: lower-case names; repeated fields joined with ", " ("; " for cookie).
// body: present only when the request has one; bytes that are not valid UTF-8 travel as
// base64 with "body_encoding": "base64". Streaming writer, no DOM: this is the hot path.
#pragma once
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tempest::front {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;

void encode_job(std::string& out, const http_request& req, std::string_view remote_addr,
                std::string_view respond_to, std::uint64_t job_id);

}  // namespace tempest::front
