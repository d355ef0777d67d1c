# frozen_string_literal: true

require_relative "test_helper"

# Reliable delivery (protocol.md 9): a SIGKILLed worker's jobs are re-delivered by the reaper of
# another worker (retry-safe ones) or answered 502 (the others); SCRIPT FLUSH is survived.
class ReliableTest < TempestTest::Case
  def test_jobs_of_a_killed_worker_are_redelivered_or_answered_502
    Dir.mktmpdir do |dir|
      pid = spawn_ruby(File.join(__dir__, "workers", "hold_worker.rb"), dir, "--queue", @queue,
                       "--heartbeat-ttl", "600ms", "--concurrency", "2")
      get = Thread.new { @front.get("/safe", timeout: 15) }
      post = Thread.new { @front.request("POST", "/unsafe", body: "x", timeout: 15) }
      wait_for("both jobs held by the first worker", timeout: 8) { Dir["#{dir}/started-*"].size == 2 }
      held = redis.keys("tempest:processing:*:#{pid}:*")
      assert_equal 2, held.size, "each lane holds its job in its processing list"
      Process.kill("KILL", pid)
      Process.wait(pid)
      @pids.delete(pid)

      start_worker { |ctx, _env| [200, { "X-Retry" => ctx.retry.to_s }, "second worker #{ctx.method} #{ctx.path}"] }
      res = get.value
      assert_equal ["200", "second worker GET /safe", "true"], [res.code, res.body, res["x-retry"]]
      res = post.value
      assert_equal "502", res.code
      assert_equal "the worker handling this request died; it is not safe to retry", res.body
      wait_for("the dead worker unregistered") { redis.smembers("tempest:workers").grep(/:#{pid}:/).empty? }
      assert_empty redis.keys("tempest:processing:*:#{pid}:*")
    end
  end

  def test_a_job_that_killed_max_attempts_workers_is_dead_lettered
    Dir.mktmpdir do |dir|
      pid = spawn_ruby(File.join(__dir__, "workers", "hold_worker.rb"), dir, "--queue", @queue, "--heartbeat-ttl", "600ms")
      client = TCPSocket.new("127.0.0.1", @front.http_port)
      client.write("GET /poison HTTP/1.1\r\nHost: t\r\n\r\n")
      wait_for("the job held", timeout: 8) { Dir["#{dir}/started-*"].size == 1 }
      Process.kill("KILL", pid)
      Process.wait(pid)
      @pids.delete(pid)
      seen = []
      start_worker(max_attempts: 1) { |ctx, _env| seen << ctx.path && [200, {}, "x"] }
      record = wait_for("the dead letter", timeout: 5) { redis.lindex("#{@queue}:dead", 0) }
      rec = JSON.parse(record)
      assert_equal [@queue, "normal", 1, "its worker died 1 times while handling it"],
                   rec.values_at("queue", "priority", "attempts", "reason")
      assert_match(/:#{pid}:0\z/, rec["worker"])
      assert_equal "/poison", JSON.parse(rec["job"])[1][0]["path"]
      assert_empty seen
      client.close
    end
  end

  def test_script_flush_is_survived
    start_worker { [200, {}, "fine"] }
    assert_equal "fine", @front.get("/").body
    redis.script(:flush)
    assert_equal "fine", @front.get("/").body, "NOSCRIPT -> SCRIPT LOAD, take again"
    assert redis.script(:exists, Tempest::Scripts.take.sha)
  end

  def test_stop_unregisters_and_leaves_no_processing_list
    w = start_worker { [200, {}, "x"] }
    assert_equal "x", @front.get("/").body
    id = w.ids.first
    assert_match(/\A#{Regexp.escape(Socket.gethostname)}:#{Process.pid}:\d+\z/, id)
    assert redis.sismember("tempest:workers", id)
    w.stop
    @workers.each { |_, t| t.join(5) }
    refute redis.sismember("tempest:workers", id)
    refute redis.exists?("tempest:worker:#{id}")
    refute redis.exists?("tempest:processing:#{id}")
  end
end
