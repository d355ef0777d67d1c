# frozen_string_literal: true

# Reliable mode's heartbeat thread and the reaper (protocol.md 9.1, 9.3; mirrors
# src/worker/heartbeat.cpp and src/core/queue/reaper.cpp), on a Redis connection of its own:
#
#   every ttl/3   SET tempest:worker:<id> 1 PX <ttl> for each lane, SADD tempest:workers <ids>
#   every ttl     the reaper (once at start too): for each id of tempest:workers whose heartbeat
#                 key is gone, reap.lua (with the queues it asks for) re-queues its jobs or
#                 dead-letters them; the jobs not safe to retry are answered 502 on their
#                 respond_to when it is announced or allowed
#   at stop       goodbye.lua for each lane: unregister, or leave its jobs to the next reaper
module Tempest
  class Heartbeat
    def initialize(redis_url, ids, ttl_ms:, reaper:)
      @redis = RedisURL.client(redis_url, timeout: 5)
      @ids = ids
      @ttl_ms = ttl_ms
      @reaper = reaper
      @stop = false
      @down_logged = false
      beat # registered before the first take (take.lua registers too)
      @thread = Thread.new { run }
    end

    def stop
      @stop = true
      @thread.join
      goodbye
      @redis.close
    end

    private

    def run
      next_reap = clock
      until @stop
        beat
        if clock >= next_reap
          guard("reaping dead workers") { @reaper.reap(@redis) }
          next_reap = clock + @ttl_ms / 1000.0
        end
        pause(@ttl_ms / 3000.0)
      end
    end

    def beat
      guard("heartbeat") do
        @redis.pipelined do |p|
          @ids.each { |id| p.call("SET", Keys.heartbeat(id), "1", "PX", @ttl_ms.to_s) }
          p.call("SADD", Keys::WORKERS, *@ids)
        end
      end
    end

    def goodbye
      @ids.each do |id|
        guard("goodbye of #{id}") do
          left = Scripts.goodbye.run(@redis, [Keys.processing(id), Keys.heartbeat(id), Keys::WORKERS], [id])
          Tempest.logger.warn("worker #{id} stops with jobs in flight; the next reaper hands them on") if left.zero?
        end
      end
    end

    def guard(what)
      yield
      Tempest.logger.info("#{what}: Redis is back") if @down_logged
      @down_logged = false
    rescue StandardError => e # the thread must go on beating whatever happens
      Tempest.logger.warn("#{what} failed: #{e.class}: #{e.message}; retrying") unless @down_logged
      @down_logged = true
    end

    def pause(seconds)
      until_t = clock + seconds
      sleep([0.05, until_t - clock].min) while !@stop && clock < until_t
    end

    def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  class Reaper
    UNSAFE_URL = "the worker handling this request died; it is not safe to retry"
    UNSAFE_JOB = "the worker handling this job died; it is not safe to retry"

    def initialize(max_attempts: 3, answer_allow: [], answer_password: nil, answer_timeout: 5.0)
      @answer_timeout = answer_timeout
      @max_attempts = max_attempts
      @allow = answer_allow
      @password = answer_password
    end

    # Reaps every dead worker; returns [[id, requeued, dead_lettered, answered_unsafe], ...].
    def reap(redis)
      ids = redis.call("SMEMBERS", Keys::WORKERS)
      return [] if ids.empty?
      alive = redis.pipelined { |p| ids.each { |id| p.call("EXISTS", Keys.heartbeat(id)) } }
      ids.zip(alive).select { |_, a| a.zero? }.filter_map do |id, _|
        rep = run_reap(redis, id)
        next if !rep.is_a?(Array) || rep.empty? || rep[0].negative?
        unsafe = rep[2..] || []
        answer_unsafe(redis, unsafe) unless unsafe.empty?
        Tempest.logger.info("reaped dead worker #{id}: #{rep[0]} jobs re-queued, #{rep[1]} dead-lettered, " \
                            "#{unsafe.size} answered 502 (not safe to retry)")
        [id, rep[0], rep[1], unsafe.size]
      end
    end

    private

    # reap.lua's KEYS and ARGV (see its header): the queues it names when it answers {-2, q...}.
    def run_reap(redis, id)
      queues = []
      4.times do
        keys = [Keys.processing(id), Keys.heartbeat(id), Keys::WORKERS]
        queues.each { |q| keys.push(*Keys.lists(q), Keys.bell(q), Keys.attempts(q), Keys.dead(q)) }
        rep = Scripts.reap.run(redis, keys, [id, @max_attempts.to_s, Keys::BELL_KEEP.to_s, *queues])
        return rep unless rep.is_a?(Array) && rep[0] == -2
        queues.concat(rep[1..])
      end
      raise "the reap script of worker #{id} keeps naming new queues"
    end

    def answer_unsafe(redis, jobs)
      targets = Answer::Targets.new(@allow)
      pool = Answer::Pool.new(password: @password, timeout: @answer_timeout, buffer: 64 << 20)
      now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      jobs.each do |payload|
        m = TAIL.match(payload)
        next Tempest.logger.warn("a job not safe to retry has no readable respond_to/id; dropped") unless m
        respond_to = JSON.parse("\"#{m[1]}\"")
        unless targets.allowed?(respond_to, now) { Answer::Targets.fetch(redis) }
          Tempest.logger.warn("[j#{m[2]}] respond_to #{respond_to} is neither announced nor allowed: no 502 sent")
          next
        end
        action = payload[/\A\s*\[\s*"([^"\\]*)"/, 1] || "url"
        json = if action == "url"
                 JSON.generate([502, { "Content-Type" => "text/plain" }, UNSAFE_URL])
               else
                 JSON.generate({ "error" => UNSAFE_JOB })
               end
        pool.answer(respond_to, action, m[2], json)
      end
      pool.collect(@answer_timeout, all: true) # until each is acknowledged or its endpoint is down
    ensure
      pool&.close
    end
  end
end
