# frozen_string_literal: true

require_relative "test_helper"

# examples/hello.rb as users run it: a subprocess taking --redis, --queue, --mode, --concurrency.
class HelloTest < TempestTest::Case
  HELLO = File.join(TempestTest::CLIENT, "examples", "hello.rb")

  def run_hello(*args)
    pid = spawn_ruby(HELLO, "--queue", @queue, *args)
    res = @front.get("/anything?x=1")
    assert_equal "200", res.code
    assert_equal "Hello world!", res.body
    assert_equal "text/plain", res["content-type"]
    assert_equal "ruby", res["x-worker"], "who answered, in a mixed fleet"
    5.times { assert_equal "Hello world!", @front.get("/").body }
    pid
  end

  def test_reliable_round_trip_and_clean_stop
    pid = run_hello
    ids = wait_for("the hello worker registered") { redis.smembers("tempest:workers").grep(/:#{pid}:/).then { |a| a.empty? ? nil : a } }
    assert_equal ["#{Socket.gethostname}:#{pid}:0"], ids
    Process.kill("TERM", pid)
    _, status = Timeout.timeout(5) { Process.wait2(pid) }
    @pids.delete(pid)
    assert_equal 0, status.exitstatus
    assert_empty redis.smembers("tempest:workers").grep(/:#{pid}:/), "goodbye.lua unregisters it"
    refute redis.exists?("tempest:processing:#{ids[0]}")
  end

  def test_plain_mode_with_concurrency
    pid = run_hello("--mode", "plain", "--concurrency", "2", "--redis", TempestTest.redis_url)
    assert_empty redis.smembers("tempest:workers").grep(/:#{pid}:/), "plain workers do not register"
    Process.kill("INT", pid)
    _, status = Timeout.timeout(5) { Process.wait2(pid) }
    @pids.delete(pid)
    assert_equal 0, status.exitstatus
  end
end
