// Unit tests for src/front/channel_hub.*, against a real redis-server (redis_server.hpp): the
// hub is built as shard.hpp builds it (an sse_context over the thread's command connection and
// its own pub/sub connection), subscribers get one end of a loopback TCP connection and the test
// reads the other. Covered: the per-channel reference counts (first subscriber SUBSCRIBEs, last
// one UNSUBSCRIBEs, as Redis's PUBSUB NUMSUB shows), fan-out to every subscriber of a channel,
// messages held until a subscriber is ready, ids that never go back, the end message, and the
// resync after the pub/sub connection comes back.
#include "core/history.hpp"
#include "core/redis/async_client.hpp"
#include "core/redis/blocking_client.hpp"
#include "core/redis_url.hpp"
#include "front/channel_hub.hpp"
#include "front/front_config.hpp"
#include "front/front_stats.hpp"
#include "front/sse_context.hpp"
#include "front/sse_event.hpp"
#include "io_test_util.hpp"
#include "../core/redis/redis_server.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using namespace tempest;
using namespace tempest::front;
namespace asio = boost::asio;
using test::run_until;

namespace {

// One front thread's hub, as shard.hpp and front.cpp make it, on a redis-server of its own.
struct fixture {
  test::redis_server server;
  asio::io_context ioc;
  front_config cfg;
  front_stats stats;
  std::shared_ptr<redis::async_client> redis;   // history reads (resync)
  std::shared_ptr<redis::async_client> pubsub;  // the hub's
  std::unique_ptr<channel_hub> hub;
  sse_context ctx{cfg, stats, ioc, redis, hub};
  redis::blocking_client look;
  std::vector<std::unique_ptr<test::peer>> peers;

  fixture() : look(parse_redis_url(server.url())) {
    auto table = make_front_settings(cfg);
    table.resolve();
    auto ep = parse_redis_url(server.url());
    redis = std::make_shared<redis::async_client>(ioc.get_executor(), ep, "front#0");
    pubsub = std::make_shared<redis::async_client>(ioc.get_executor(), ep, "pubsub#0");
    hub = std::make_unique<channel_hub>(ctx, pubsub);
    redis->start();
    hub->start();
  }
  ~fixture() {  // shard.hpp's order
    hub.reset();
    pubsub->stop();
    redis->stop();
  }
  // redis-server is a build package (./run installs it): not running is a failure.
  bool connected() {
    return server.running() && run_until(ioc, [this] { return hub->connected() && redis->connected(); });
  }
  // A subscriber on `channels`, added to the hub; its client's end is peers.back().
  std::shared_ptr<sse_subscriber> subscribe(std::vector<std::string> channels, bool ready = true) {
    auto [client, server] = test::socket_pair(ioc);
    peers.push_back(std::make_unique<test::peer>(std::move(client)));
    auto s = std::make_shared<sse_subscriber>(ctx, std::move(server), std::move(channels));
    hub->add(s);
    if (ready) s->make_ready();
    return s;
  }
  long long numsub(const std::string& channel) {
    auto r = look.command({"PUBSUB", "NUMSUB", channel});
    return r->element[1]->integer;
  }
  void publish(const std::string& channel, const std::string& payload) {
    look.command({"PUBLISH", channel, payload});
  }
  bool receives(test::peer& p, const std::string& text) {
    return run_until(ioc, [&] { return p.in.find(text) != std::string::npos; });
  }
};

std::string event(std::string_view cursor, std::string_view name, std::string_view data) {
  std::string b;
  append_sse_event(b, cursor, name, data);
  return b;
}

}  // namespace

TEST(channel_hub, first_subscriber_subscribes_and_last_one_unsubscribes) {
  fixture f;
  ASSERT_TRUE(f.connected()) << "redis-server did not start, or the hub did not connect";
  auto a = f.subscribe({"news"});
  auto b = f.subscribe({"news", "sports"});
  EXPECT_EQ(f.hub->channel_count(), 2u);
  EXPECT_EQ(f.stats.sse_channels.load(), 2u);
  EXPECT_EQ(f.stats.sse_subscribers.load(), 2u);
  ASSERT_TRUE(run_until(f.ioc, [&] { return f.hub->subscribed(*a) && f.hub->subscribed(*b); }));
  EXPECT_EQ(f.numsub("news"), 1);  // one pub/sub connection for the thread, whatever the count
  EXPECT_EQ(f.numsub("sports"), 1);

  f.hub->remove(*a);
  EXPECT_EQ(f.hub->channel_count(), 2u);  // b still reads news
  EXPECT_EQ(f.stats.sse_subscribers.load(), 1u);
  f.hub->remove(*a);                      // twice: nothing more
  EXPECT_EQ(f.stats.sse_subscribers.load(), 1u);
  f.hub->remove(*b);
  EXPECT_EQ(f.hub->channel_count(), 0u);
  EXPECT_EQ(f.stats.sse_channels.load(), 0u);
  EXPECT_EQ(f.stats.sse_subscribers.load(), 0u);
  EXPECT_EQ(f.stats.sse_subscribers_total.load(), 2u);
  EXPECT_TRUE(run_until(f.ioc, [&] { return f.numsub("news") == 0 && f.numsub("sports") == 0; }))
      << "the last subscriber left: UNSUBSCRIBE";
  EXPECT_FALSE(f.hub->subscribed(*b));
}

TEST(channel_hub, a_message_goes_to_every_subscriber_of_its_channel) {
  fixture f;
  ASSERT_TRUE(f.connected()) << "redis-server did not start, or the hub did not connect";
  auto a = f.subscribe({"news"});
  auto b = f.subscribe({"news", "sports"});
  auto c = f.subscribe({"weather"});
  ASSERT_TRUE(run_until(f.ioc, [&] { return f.hub->subscribed(*a) && f.hub->subscribed(*b) && f.hub->subscribed(*c); }));
  f.publish("news", R"(["hello"])");
  f.publish("sports", R"(["goal", "1-0"])");
  ASSERT_TRUE(f.receives(*f.peers[0], event("news=0", "", "hello")));
  ASSERT_TRUE(f.receives(*f.peers[1], event("news=0,sports=0", "", "hello") + event("sports=0,news=0", "goal", "1-0")));
  f.publish("weather", R"(["rain"])");  // behind the others on the one connection
  ASSERT_TRUE(f.receives(*f.peers[2], event("weather=0", "", "rain")));
  EXPECT_EQ(f.peers[0]->in, event("news=0", "", "hello"));  // nothing of the other channels
  EXPECT_EQ(f.peers[2]->in, event("weather=0", "", "rain"));
  EXPECT_EQ(f.stats.sse_events_sent.load(), 4u);
}

TEST(channel_hub, held_until_ready_ids_only_go_forward_and_the_end_closes) {
  fixture f;
  ASSERT_TRUE(f.connected()) << "redis-server did not start, or the hub did not connect";
  auto early = f.subscribe({"c"});
  auto late = f.subscribe({"c"}, false);  // still in its handshake or replay
  ASSERT_TRUE(run_until(f.ioc, [&] { return f.hub->subscribed(*late); }));
  f.publish("c", R"([null, "one", "17-0"])");
  ASSERT_TRUE(f.receives(*f.peers[0], event("c=17-0", "", "one")));
  EXPECT_EQ(f.hub->last_id("c"), "17-0");
  EXPECT_EQ(f.peers[1]->in, "");  // held
  f.publish("c", R"([null, "old", "16-0"])");  // behind the cursor: already sent
  f.publish("c", R"([null, "two", "18-0"])");
  ASSERT_TRUE(f.receives(*f.peers[0], event("c=18-0", "", "two")));
  EXPECT_EQ(f.peers[0]->in.find("old"), std::string::npos) << f.peers[0]->in;
  late->cursors()[0] = "17-0";  // as if its replay had sent up to 17-0
  late->make_ready();
  ASSERT_TRUE(f.receives(*f.peers[1], event("c=18-0", "", "two")));
  EXPECT_EQ(f.peers[1]->in, event("c=18-0", "", "two"));

  f.publish("c", R"(["$unsubscribe"])");
  for (auto& p : f.peers) {
    ASSERT_TRUE(run_until(f.ioc, [&] { return p->closed; })) << "the end message closes the stream";
    EXPECT_TRUE(p->in.ends_with(event("c=18-0", "end", ""))) << p->in;
  }
  EXPECT_TRUE(run_until(f.ioc, [&] { return f.hub->channel_count() == 0 && f.stats.sse_subscribers.load() == 0; }))
      << "closed subscribers leave the hub";
}

TEST(channel_hub, after_the_pubsub_connection_comes_back_the_gap_is_replayed) {
  fixture f;
  ASSERT_TRUE(f.connected()) << "redis-server did not start, or the hub did not connect";
  auto s = f.subscribe({"feed"});
  auto bare = f.subscribe({"bare"});  // nothing recorded delivered: the gap cannot be proved covered
  ASSERT_TRUE(run_until(f.ioc, [&] { return f.hub->subscribed(*s) && f.hub->subscribed(*bare); }));
  std::string key = history::key("feed");
  std::string id1(redis::text(f.look.command({"XADD", key, "*", "e", "", "d", "one"}).get()));
  f.publish("feed", R"([null, "one", ")" + id1 + R"("])");
  ASSERT_TRUE(f.receives(*f.peers[0], event("feed=" + id1, "", "one")));

  EXPECT_EQ(f.look.command({"CLIENT", "KILL", "TYPE", "pubsub"})->integer, 1);
  // While the hub is away (its io_context does not run): recorded, published to nobody.
  std::string id2(redis::text(f.look.command({"XADD", key, "*", "e", "", "d", "two"}).get()));
  f.publish("feed", R"([null, "two", ")" + id2 + R"("])");

  ASSERT_TRUE(f.receives(*f.peers[0], event("feed=" + id2, "", "two") +
                                          event("feed=" + id2, "tempest.resync", R"({"channel":"feed","lost":false})")))
      << f.peers[0]->in;
  ASSERT_TRUE(f.receives(*f.peers[1], event("bare=0", "tempest.resync", R"({"channel":"bare","lost":true})")))
      << f.peers[1]->in;
  EXPECT_EQ(f.stats.sse_replayed.load(), 1u);
  f.publish("feed", R"(["live again"])");
  EXPECT_TRUE(f.receives(*f.peers[0], event("feed=" + id2, "", "live again")));
}
