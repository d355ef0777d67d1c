// Shared by the fuzz targets: an input is a 2-byte prefix that steers the harness, then the
// bytes the target reads as if they came from the network:
//   byte 0  flags, each target says what its bits mean
//   byte 1  seed of the chunk sizes: the stream is fed in pieces of 1 to 64 bytes (seed 0: the
//           whole stream at once), as TCP may deliver it
// The corpus files (fuzz/corpus/<target>/) are written in this form; fuzz/README.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tempest::fuzz {

class fuzz_input {
 public:
  fuzz_input(const std::uint8_t* data, std::size_t size) {
    if (size >= 1) flags_ = data[0];
    if (size >= 2) state_ = data[1];
    std::size_t skip = size < 2 ? size : 2;
    stream_ = std::string_view(reinterpret_cast<const char*>(data) + skip, size - skip);
    whole_ = state_ == 0;
    state_ = state_ * 2654435761u + 1;
  }

  std::uint8_t flags() const { return flags_; }
  std::string_view stream() const { return stream_; }

  // The next piece of the stream; empty at its end.
  std::string_view next_chunk() {
    if (pos_ >= stream_.size()) return {};
    std::size_t n = stream_.size() - pos_;
    if (!whole_) {
      state_ ^= state_ << 13;  // xorshift32
      state_ ^= state_ >> 17;
      state_ ^= state_ << 5;
      n = std::min<std::size_t>(n, 1 + state_ % 64);
    }
    auto piece = stream_.substr(pos_, n);
    pos_ += n;
    return piece;
  }

 private:
  std::uint8_t flags_ = 0;
  std::uint32_t state_ = 0;
  bool whole_ = true;
  std::string_view stream_;
  std::size_t pos_ = 0;
};

}  // namespace tempest::fuzz
