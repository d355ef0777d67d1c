# frozen_string_literal: true

require_relative "test_helper"

# Fronts that ring no bell (the 2012 one): the lane watches the list (protocol.md 9.2).
class BellLessTest < TempestTest::Case
  def setup
    super
    @grace = Tempest::ReliableSource.bell_grace
    Tempest::ReliableSource.bell_grace = 0
  end

  def teardown
    super
    Tempest::ReliableSource.bell_grace = @grace
  end

  # A connection of this Redis blocked in command (flags=b).
  def blocked?(command) = redis.call("CLIENT", "LIST").lines.any? { |l| l =~ /flags=b\b.*cmd=#{command}\b/ }

  def test_jobs_without_a_bell_are_taken_at_once_once_watched
    handled = Queue.new
    w = Tempest::Worker.new(**worker_options)
    w.on(:ping) { |_ctx, args| handled << [args[0], TempestTest.clock]; nil }
    start_worker(w)
    wait_for("the lane waiting on its bell") { blocked?("blpop") }
    redis.rpush(@queue, JSON.generate(["ping", [1], nil, 1]))
    assert_equal 1, Timeout.timeout(3) { handled.pop }[0], "found by the 1 s poll, which starts the watch"
    wait_for("the watch waiting on the list") { blocked?("blmove") }
    t0 = TempestTest.clock
    redis.rpush(@queue, JSON.generate(["ping", [2], nil, 2]))
    n, t = Timeout.timeout(3) { handled.pop }
    assert_equal 2, n
    assert_operator t - t0, :<, 0.7, "woken by the watch (tempest:wake:<id>), not the next poll"
  end
end

# An answer endpoint with a password (3.3): the worker AUTHs with answer_password.
class AnswerPasswordTest < TempestTest::Case
  def front_args = ["--answer-password", "s3cret"]

  def test_answers_with_a_password
    start_worker(answer_password: "s3cret") { [200, {}, "authenticated"] }
    assert_equal "authenticated", @front.get("/").body
  end
end

class UnixSocketTest < TempestTest::Case
  def test_a_worker_over_a_unix_socket
    start_worker(redis: "unix:#{TempestTest.redis_socket}?db=0") { [200, {}, "over a unix socket"] }
    assert_equal "over a unix socket", @front.get("/").body
  end
end

class RedisURLTest < Minitest::Test
  def test_urls
    o = Tempest::RedisURL
    assert_equal({ host: "h", port: 7000, db: 2, password: "p w" }, o.options("redis://:p%20w@h:7000/2"))
    assert_equal({ host: "h", port: 6379, username: "u", password: "x" }, o.options("redis://u:x@h"))
    assert_equal({ path: "/run/redis.sock", db: 3 }, o.options("unix:/run/redis.sock?db=3"))
    assert_equal({ path: "/run/redis.sock", db: 0 }, o.options("unix:///run/redis.sock"))
    assert_raises(ArgumentError) { o.options("http://x") }
  end
end

# Answer endpoints that are down or hung (2.1): their answers are dropped and counted, and the
# lane goes on serving the others.
class AnswerEndpointFailuresTest < TempestTest::Case
  def test_down_and_hung_endpoints
    closed_port = TempestTest.free_port
    hung = TCPServer.new("127.0.0.1", 0) # accepts (the kernel does), never reads nor replies
    hung_ep = "127.0.0.1:#{hung.addr[1]}"
    w = start_worker(answer_allow: ["127.0.0.1:#{closed_port}", hung_ep], answer_timeout: 0.3) { [200, {}, "ok"] }
    redis.rpush(@queue, JSON.generate(["url", [{ "method" => "GET", "url" => "/a", "headers" => {} }], "127.0.0.1:#{closed_port}", 1]))
    wait_for("the answer to a closed port dropped") { w.stats[:answers_dropped] == 1 }
    redis.rpush(@queue, JSON.generate(["url", [{ "method" => "GET", "url" => "/b", "headers" => {} }], hung_ep, 2]))
    assert_equal "ok", @front.get("/").body, "a hung endpoint does not stop the lane"
    wait_for("the unacknowledged answer dropped") do
      @front.get("/") # a batch: the lane reads replies and notices the answer is overdue
      w.stats[:answers_dropped] == 2
    end
  ensure
    hung&.close
  end
end
