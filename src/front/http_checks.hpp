// Request checks Beast's parser leaves to us, run on the header before any body is read and
// before anything becomes a job (RFC 9112 framing rules; Beast already rejects bad
// Content-Length values, bare CR/LF, whitespace before the colon, NUL/CR/LF in values,
// invalid chunk framing and bad tokens):
//   - HTTP/1.1 without exactly one Host, or HTTP/1.0 with several        -> 400
//   - Transfer-Encoding in an HTTP/1.0 request                          -> 400
//   - Transfer-Encoding together with Content-Length                    -> 400
//   - Transfer-Encoding whose last coding is not chunked, or repeated    -> 400
//   - Transfer-Encoding with a coding other than chunked                 -> 501
//   - several Content-Length fields (even equal ones), or one holding a
//     list of values (even equal ones: "1, 1", which Beast accepts)      -> 400
#pragma once
#include "core/errors.hpp"

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

namespace tempest::front {

errc check_request_header(const boost::beast::http::request_header<>& h);

}  // namespace tempest::front
