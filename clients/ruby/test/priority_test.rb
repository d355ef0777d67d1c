# frozen_string_literal: true

require_relative "test_helper"

# Priorities (8.1, 8.2) and cancellation (8.5).
class PriorityTest < TempestTest::Case
  def front_args = ["--priority-routes", "/high=high,/low=low"]

  def test_highest_priority_first
    order = []
    threads = %w[/low/1 /normal/1 /high/1].map { |p| Thread.new { @front.get(p, timeout: 10) } }
    wait_for("one job on each priority list") do
      [redis.llen("#{@queue}:high"), redis.llen(@queue), redis.llen("#{@queue}:low")] == [1, 1, 1]
    end
    start_worker(batch: 1) do |ctx, _env|
      order << [ctx.path, ctx.priority]
      [200, {}, ctx.priority]
    end
    assert_equal %w[low normal high], threads.map { |t| t.value.body }
    assert_equal [["/high/1", "high"], ["/normal/1", "normal"], ["/low/1", "low"]], order
  end

  # Opens a raw HTTP connection, sends a GET for path, and returns the socket.
  def raw_get(path)
    s = TCPSocket.new("127.0.0.1", @front.http_port)
    s.write("GET #{path} HTTP/1.1\r\nHost: t\r\n\r\n")
    s
  end

  def cancelled_fields = redis.hkeys("tempest:cancelled").select { |f| f.start_with?("#{@front.answer}/") }

  def test_cancelled_job_is_dropped_unstarted
    release = Queue.new
    seen = Queue.new
    w = start_worker(batch: 1) do |ctx, _env|
      seen << ctx.path
      release.pop if ctx.path == "/block"
      [200, {}, "done #{ctx.path}"]
    end
    blocked = Thread.new { @front.get("/block", timeout: 10) }
    assert_equal "/block", Timeout.timeout(5) { seen.pop }
    sock = raw_get("/cancel-me")
    wait_for("the job queued") { redis.llen(@queue) == 1 }
    sleep 0.1 # the front watches a waiting client only after 50 ms (8.5)
    sock.close
    wait_for("the front cancelled the job") { cancelled_fields.size == 1 }
    release << :go
    assert_equal "done /block", blocked.value.body
    assert_equal "done /after", @front.get("/after").body
    assert_equal "/after", Timeout.timeout(5) { seen.pop }, "/cancel-me never reached the handler"
    assert_empty cancelled_fields, "its field was deleted"
    w.stop
    @workers.each { |_, t| t.join(5) }
    assert_equal 1, w.stats[:cancelled_dropped]
  end

  def test_running_handler_sees_cancelled
    started = Queue.new
    result = Queue.new
    start_worker do |ctx, _env|
      started << true
      deadline = TempestTest.clock + 5
      sleep 0.05 until ctx.cancelled? || TempestTest.clock > deadline
      result << ctx.cancelled?
      [200, {}, "too late"]
    end
    sock = raw_get("/long")
    Timeout.timeout(5) { started.pop }
    sleep 0.1
    sock.close
    assert_equal true, Timeout.timeout(6) { result.pop }
  end
end

# Deadlines (8.4, 8.5): a job whose deadline passed while it waited is dropped unstarted.
class DeadlineTest < TempestTest::Case
  def front_args = ["--timeout", "400ms"]

  def test_expired_job_is_dropped_unstarted
    res = @front.get("/late", timeout: 5)
    assert_equal "504", res.code, "no worker: the front gives up at its deadline"
    assert_equal 1, redis.llen(@queue)
    seen = []
    w = start_worker do |ctx, _env|
      seen << ctx.path
      [200, {}, "on time"]
    end
    assert_equal "on time", @front.get("/fresh").body
    assert_equal ["/fresh"], seen
    assert_equal 1, w.stats[:expired]
    assert_equal 0, redis.llen(@queue)
  end
end
