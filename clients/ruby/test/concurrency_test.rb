# frozen_string_literal: true

require_relative "test_helper"

# concurrency: N lanes (threads), each with its own connections, in both modes.
class ConcurrencyTest < TempestTest::Case
  %i[reliable plain].each do |mode|
    define_method("test_four_lanes_#{mode}") do
      threads = Queue.new
      start_worker(mode: mode, concurrency: 4, batch: 1) do |_ctx, _env|
        threads << Thread.current.object_id
        sleep 0.4
        [200, {}, "slow"]
      end
      t0 = TempestTest.clock
      results = Array.new(8) { Thread.new { @front.get("/slow", timeout: 10) } }.map(&:value)
      elapsed = TempestTest.clock - t0
      assert_equal ["slow"] * 8, results.map(&:body)
      assert_operator elapsed, :<, 2.4, "8 jobs of 0.4 s on 4 lanes (sequential would take 3.2 s)"
      assert_equal 4, Array.new(threads.size) { threads.pop }.uniq.size
      registered = redis.smembers("tempest:workers").grep(/:#{Process.pid}:/)
      assert_equal(mode == :reliable ? 4 : 0, registered.size)
    end
  end

  def test_sequential_by_default
    active = 0
    most = 0
    m = Mutex.new
    start_worker do |_ctx, _env|
      m.synchronize { most = [most, active += 1].max }
      sleep 0.05
      m.synchronize { active -= 1 }
      [200, {}, "one at a time"]
    end
    Array.new(4) { Thread.new { @front.get("/") } }.each(&:value)
    assert_equal 1, most
  end
end
