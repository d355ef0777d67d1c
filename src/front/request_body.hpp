// The body of a request as the front reads it (a Beast Body type): in memory, or, on a route
// that spools (protocol.md 11), in a spool file once it passes the threshold. A body that
// stays in memory is read exactly as Beast's string_body reads it (one reservation for a
// declared length, then copies): the common path costs the same.
//
//   req.body().text            the bytes, when in memory
//   req.body().file            the spool file (path, size, SHA-256), when spooled
//
// The session sets `spool` and `spill_at` after the header and before the body is read, and
// opens the file itself when a declared length is over the threshold (a disk without room is
// then answered before any body byte is read). A write that fails sets `spool_error` (errno) and
// fails the read with io_error; the file goes with the body (spool_file removes it).
#pragma once
#include "front/upload_spool.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>
#include <boost/system/errc.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace tempest::front {

struct request_body {
  struct value_type {
    std::string text;
    std::unique_ptr<spool_file> file;
    const upload_spool* spool = nullptr;  // nullptr: the body stays in memory (the parser's body_limit bounds it)
    std::uint64_t spill_at = 0;           // bytes held in memory before the body moves to a file
    int spool_error = 0;                  // errno of a spool file that could not be created or written

    bool spooled() const noexcept { return file != nullptr; }
    // Moves the body to a new spool file (what is in memory first); false: spool_error is set.
    bool spill() {
      if (file) return true;
      int err = 0;
      file = spool ? spool->create(err) : nullptr;
      if (!file) {
        spool_error = err ? err : EACCES;
        return false;
      }
      if (!text.empty() && !file->write(text.data(), text.size())) {
        spool_error = file->error();
        return false;
      }
      std::string().swap(text);
      return true;
    }
  };

  static std::uint64_t size(const value_type& v) noexcept { return v.file ? v.file->size() : v.text.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& b) : b_(b) {}

    void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& ec) {
      ec = {};
      if (!length || b_.file || (b_.spool && *length > b_.spill_at)) return;
      if (*length > b_.text.max_size()) {
        ec = boost::beast::http::error::buffer_overflow;
        return;
      }
      b_.text.reserve(static_cast<std::size_t>(*length));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
      namespace net = boost::asio;
      std::size_t n = net::buffer_size(buffers);
      ec = {};
      if (!b_.file && b_.spool && b_.text.size() + n > b_.spill_at && !b_.spill()) return failed(ec);
      if (b_.file) {
        for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers); ++it) {
          net::const_buffer cb(*it);
          if (!b_.file->write(static_cast<const char*>(cb.data()), cb.size())) {
            b_.spool_error = b_.file->error();
            return failed(ec);
          }
        }
        return n;
      }
      std::size_t size = b_.text.size();
      if (n > b_.text.max_size() - size) {
        ec = boost::beast::http::error::buffer_overflow;
        return 0;
      }
      b_.text.resize(size + n);
      return net::buffer_copy(net::buffer(&b_.text[size], n), buffers);
    }

    void finish(boost::system::error_code& ec) {
      ec = {};
      if (b_.file && !b_.file->finish()) {
        b_.spool_error = b_.file->error();
        failed(ec);
      }
    }

   private:
    std::size_t failed(boost::system::error_code& ec) {
      ec = boost::system::errc::make_error_code(boost::system::errc::io_error);
      return 0;
    }
    value_type& b_;
  };
};

using http_request = boost::beast::http::request<request_body>;

}  // namespace tempest::front
