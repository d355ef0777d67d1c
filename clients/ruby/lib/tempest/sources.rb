# frozen_string_literal: true

# Where a lane's jobs come from (protocol.md 1.6, 8, 9). Each lane owns one source on its own
# Redis connection; next(count) returns up to count job payloads (Strings), waiting about 1 s
# when there are none, so that a stop is noticed.
#
#   ReliableSource (the default; at-least-once; mirrors src/worker/reliable_source.cpp)
#     take     EVALSHA take.lua  KEYS <q>:high <q> <q>:low tempest:processing:<id>
#              tempest:worker:<id> tempest:workers <q>:bell  ARGV count ttl_ms id queue,
#              then LRANGE tempest:processing:<id> 1 -1 and EXISTS tempest:cancelled in the same
#              round trip (NOSCRIPT -> SCRIPT LOAD, take again); while the hash exists, one HMGET
#              for the batch drops the jobs the front cancelled (HDEL their fields, 8.5)
#     wait     nothing taken: BLPOP <q>:bell tempest:wake:<id> 1, then take again. Fronts that
#              ring no bell (the 2012 one): once jobs were found after a wait no token ended (not
#              in the lane's first 3 s), a watch thread keeps BLMOVE <q> <q> LEFT LEFT 1 pending
#              while the lane waits and pushes a token on tempest:wake:<id> (PEXPIRE 10 s) when a
#              job is there (src/worker/queue_watch.hpp)
#     handled  a job done in a long batch: LREM tempest:processing:<id> 1 <job>; the others are
#              completed by the next take (it replaces the list)
#     stop     DEL tempest:processing:<id> (the heartbeat's goodbye.lua then unregisters the id)
#   PlainSource (--mode plain; at-most-once)
#     BLMPOP 1 3 <q>:high <q> <q>:low LEFT COUNT <count>; BLPOP on a Redis before 7.0
module Tempest
  TAIL = /,\s*"((?:[^"\\]|\\.)*)"\s*,\s*(\d+)\s*\]\s*\z/.freeze # respond_to and id of a job's text

  class ReliableSource
    # s: a Tempest front rings for a new reliable worker within a second, so a lane that finds
    # bell-less jobs in its first seconds does not take its front for one that rings none
    class << self
      attr_accessor :bell_grace
    end
    self.bell_grace = 3.0

    def initialize(redis, queue:, id:, ttl_ms:, redis_url:, stopping:)
      @redis = redis
      @queue = queue
      @id = id
      @processing = Keys.processing(id)
      @keys = [*Keys.lists(queue), @processing, Keys.heartbeat(id), Keys::WORKERS, Keys.bell(queue)]
      @ttl = ttl_ms.to_s
      @wake = Keys.wake(id)
      @redis_url = redis_url
      @stopping = stopping
      @started = clock
      @watch = nil
      @cancelled_dropped = 0
    end

    attr_reader :cancelled_dropped # jobs the front cancelled, dropped unstarted

    def next(count)
      jobs = take(count)
      return jobs if !jobs.empty? || @stopping.call
      @watch&.arm
      woke = @redis.call("BLPOP", Keys.bell(@queue), @wake, "1")
      return [] if @stopping.call
      jobs = take(count)
      if woke.nil? && !jobs.empty? && @watch.nil? && clock - @started > self.class.bell_grace
        Tempest.logger.info("#{@id}: jobs on '#{@queue}' without a bell token: watching the list")
        @watch = QueueWatch.new(@redis_url, @queue, @wake, @stopping)
      end
      jobs
    end

    def handled(payload)
      @redis.call("LREM", @processing, "1", payload)
    end

    def stop
      @redis.call("DEL", @processing)
      @watch&.stop
    end

    private

    def take(count, again: true)
      script = Scripts.take
      taken, jobs, cancels = @redis.pipelined do |p|
        p.call(*script.evalsha_args(@keys, [count.to_s, @ttl, @id, @queue]))
        p.call("LRANGE", @processing, "1", "-1")
        p.call("EXISTS", Keys::CANCELLED)
      end
      raise "unexpected reply to the take script: #{taken.inspect}" unless taken.is_a?(Integer)
      jobs = [] if taken.zero?
      jobs = drop_cancelled(jobs) if cancels == 1 && !jobs.empty?
      jobs
    rescue Redis::CommandError => e
      raise unless again && e.message.start_with?("NOSCRIPT")
      script.load(@redis)
      take(count, again: false)
    end

    # Some front cancelled jobs (8.5): those of the batch with a field in tempest:cancelled are
    # dropped unstarted, and their fields deleted.
    def drop_cancelled(jobs)
      marks = jobs.filter_map do |j|
        m = TAIL.match(j)
        m && [JSON.parse("\"#{m[1]}\"") + "/" + m[2], j]
      end
      return jobs if marks.empty?
      found = @redis.call("HMGET", Keys::CANCELLED, *marks.map(&:first))
      dropped = marks.each_index.select { |i| found[i] }
      return jobs if dropped.empty?
      @redis.call("HDEL", Keys::CANCELLED, *dropped.map { |i| marks[i][0] })
      gone = dropped.map { |i| marks[i][1] }
      Tempest.logger.debug("#{@id}: #{gone.size} cancelled job(s) dropped unstarted")
      @cancelled_dropped += gone.size
      jobs.reject { |j| gone.any? { |g| g.equal?(j) } }
    end

    def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # For fronts that ring no bell: while its lane waits, BLMOVE <q> <q> LEFT LEFT 1 on a
  # connection of its own (a wait that leaves the list as it is); a job there -> a token on the
  # lane's wake list, which ends its BLPOP at once.
  class QueueWatch
    def initialize(redis_url, queue, wake, stopping)
      @redis = RedisURL.client(redis_url, timeout: 6)
      @arms = Queue.new
      @thread = Thread.new do
        until stopping.call || @stop
          @arms.pop
          break if stopping.call || @stop
          begin
            got = @redis.call("BLMOVE", queue, queue, "LEFT", "LEFT", "1")
            @redis.pipelined { |p| p.call("RPUSH", wake, "1"); p.call("PEXPIRE", wake, "10000") } if got
          rescue Redis::BaseError => e
            Tempest.logger.debug("queue watch: #{e.message}")
            sleep 0.5
          end
        end
      end
    end

    def arm = (@arms << :wait if @arms.empty?)

    def stop
      @stop = true
      @arms << :stop
      @thread.join(3)
      @redis.close
    end
  end

  class PlainSource
    def initialize(redis, queue:)
      @redis = redis
      @lists = Keys.lists(queue)
      @blmpop = true
    end

    def next(count)
      if @blmpop
        r = @redis.call("BLMPOP", "1", "3", *@lists, "LEFT", "COUNT", count.to_s)
        r ? r[1] : []
      else
        r = @redis.call("BLPOP", *@lists, "1")
        r ? [r[1]] : []
      end
    rescue Redis::CommandError => e
      raise unless @blmpop && e.message.start_with?("ERR unknown command")
      Tempest.logger.info("Redis has no BLMPOP (before 7.0): using BLPOP")
      @blmpop = false
      []
    end

    def handled(_payload) = nil
    def stop = nil
    def cancelled_dropped = 0
  end
end
