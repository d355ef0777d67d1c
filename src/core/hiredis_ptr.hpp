// Owning pointers for hiredis's C objects, shared by everything that talks to Redis with the
// blocking hiredis API (worker library, publisher, angel).
#pragma once
#include <hiredis/hiredis.h>

#include <memory>
#include <string_view>

namespace tempest {

struct reply_free {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
struct context_free {
  void operator()(redisContext* c) const { redisFree(c); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_free>;
using context_ptr = std::unique_ptr<redisContext, context_free>;

}  // namespace tempest
