# frozen_string_literal: true

require "socket"

# Tempest::Worker: handlers for job actions, run by one lane (sequential, the default) or
# `concurrency` lanes (threads), each with its own Redis connection, job source (sources.rb)
# and answer connections (answer.rb).
#
#   worker = Tempest::Worker.new(redis: ENV["TEMPEST_REDIS"], queue: "tempest")
#   worker.on :url do |ctx, env|
#     [200, { "Content-Type" => "text/plain" }, "Hello world!"]
#   end
#   worker.run            # until SIGTERM/SIGINT (or worker.stop); jobs taken are finished first
#
# A lane's loop (mirrors src/worker/lane.cpp): take a batch (sized from the time per job, at
# most `batch`); for each job: parse it, drop it unhandled when its respond_to is neither
# announced in tempest:fronts nor in answer_allow (counted, logged at most every 10 s), drop
# it unstarted when its deadline has passed (counted), call the handler, answer on the job's
# respond_to (answer_pool.rb; pipelined within a batch, their replies read after it); in a
# long batch tell the source each job is done (reliable: LREM). Redis lost:
# logged once, retried with backoff 100 ms doubling to 500 ms.
module Tempest
  class Worker
    DEFAULTS = {
      redis: nil, queue: "tempest", mode: :reliable, concurrency: 1, heartbeat_ttl: 3000, max_attempts: 3,
      batch: 128, batch_time: 0.001, answer_allow: [], answer_password: nil,
      answer_connect_timeout: 0.5, answer_timeout: 5.0, answer_reply_wait: 0.1, answer_buffer: 8 << 20,
      history_count: 1000, history_age: 3_600_000
    }.freeze

    attr_reader :options, :stats, :ids # ids: the lanes' worker ids once running (host:pid:lane)

    @lanes_mutex = Mutex.new
    @lanes_used = 0
    # Lane numbers are unique in the process: two workers of one process never share an id
    # (and so a processing list).
    def self.allocate_lanes(n)
      @lanes_mutex.synchronize do
        first = @lanes_used
        @lanes_used += n
        first
      end
    end

    def initialize(**options)
      unknown = options.keys - DEFAULTS.keys
      raise ArgumentError, "unknown option(s): #{unknown.join(', ')}" unless unknown.empty?
      @options = DEFAULTS.merge(options.compact)
      @options[:redis] ||= ENV["TEMPEST_REDIS"]
      @options[:mode] = @options[:mode].to_sym
      raise ArgumentError, "mode is reliable or plain" unless %i[reliable plain].include?(@options[:mode])
      raise ArgumentError, "concurrency must be at least 1" if @options[:concurrency].to_i < 1
      @handlers = {}
      @stopping = false
      @stats = Hash.new(0)
      @stats_mutex = Mutex.new
      @publisher_mutex = Mutex.new
    end

    # on :url do |ctx, env| ... end  (see Context); on :other_action do |ctx, args| ... end
    def on(action, &block)
      raise ArgumentError, "on #{action.inspect} needs a block" unless block
      @handlers[action.to_s] = block
      self
    end

    def handler(action) = @handlers[action]
    def stopping? = @stopping
    def stop = (@stopping = true)

    # Runs until stop (or SIGTERM/SIGINT when trap_signals); returns 0, 1 when a lane failed.
    def run(trap_signals: true)
      previous = trap_signals ? trap_stop_signals : {}
      host = Socket.gethostname rescue "localhost"
      n = @options[:concurrency].to_i
      first = Worker.allocate_lanes(n)
      @ids = ids = Array.new(n) { |i| "#{host}:#{Process.pid}:#{first + i}" }
      reliable = @options[:mode] == :reliable
      reaper = Reaper.new(max_attempts: @options[:max_attempts], answer_allow: @options[:answer_allow],
                          answer_password: @options[:answer_password], answer_timeout: @options[:answer_timeout])
      @heartbeat = Heartbeat.new(@options[:redis], ids, ttl_ms: @options[:heartbeat_ttl], reaper: reaper) if reliable
      @lanes = ids.each_with_index.map { |id, i| Lane.new(self, i, reliable ? id : nil) }
      threads = @lanes.map { |lane| Thread.new { lane.run } }
      failed = threads.map(&:value).include?(false)
      failed ? 1 : 0
    ensure
      @heartbeat&.stop
      @heartbeat = nil
      @publisher&.close
      @publisher = nil
      @fanout&.close
      previous.each { |sig, h| Signal.trap(sig, h || "DEFAULT") }
    end

    # Records and publishes a Server-Sent Event with history (Publisher), on a connection the
    # lanes share.
    def publish(channel, data, event: nil)
      pub = @publisher_mutex.synchronize do
        @publisher ||= Publisher.new(@options[:redis], history_count: @options[:history_count],
                                                       history_age: @options[:history_age])
      end
      pub.publish(channel, data, event: event)
    end

    def count(name, n = 1) = @stats_mutex.synchronize { @stats[name] += n }

    # One chunk, one end, one answer to many kept streams or jobs (Tempest::StreamRef from
    # Stream#keep or Context#keep; protocol.md 10.6, 12.3): one command per answer endpoint;
    # returns the refs that did not take it. Thread-safe: from handlers or any other thread.
    def chunk_many(refs, bytes) = fanout.chunk_many(refs, bytes)
    def end_many(refs) = fanout.end_many(refs)
    # answer_many(refs, status, headers, body), as Context#answer's.
    def answer_many(refs, *answer) = fanout.answer_many(refs, *answer)

    # The Tempest::Fanout those calls use (its own answer connections, the worker's password
    # and timeouts).
    def fanout
      @publisher_mutex.synchronize do
        @fanout ||= Fanout.new(password: @options[:answer_password], connect_timeout: @options[:answer_connect_timeout],
                               timeout: @options[:answer_timeout])
      end
    end

    private

    # The first SIGTERM/SIGINT stops (jobs taken are finished and answered); a second one exits.
    def trap_stop_signals
      %w[TERM INT].to_h do |sig|
        old = Signal.trap(sig) do
          if @stopping
            exit!(130)
          else
            @stopping = true
          end
        end
        [sig, old]
      end
    end
  end

  # One thread's job loop (see Worker).
  class Lane
    BACKOFF_MIN = 0.1
    BACKOFF_MAX = 0.5
    FLUSH_DELAY = 0.0005 # s: a batch running longer sends each answer and marks each job done as it goes

    attr_reader :worker

    def initialize(worker, index, id)
      @worker = worker
      @o = worker.options
      @index = index
      @id = id
      @redis = RedisURL.client(@o[:redis], timeout: 6) # > the 1 s a pop or wait blocks
      stopping = -> { worker.stopping? }
      @source = if id
                  ReliableSource.new(@redis, queue: @o[:queue], id: id, ttl_ms: @o[:heartbeat_ttl],
                                             redis_url: @o[:redis], stopping: stopping)
                else
                  PlainSource.new(@redis, queue: @o[:queue])
                end
      @targets = Answer::Targets.new(@o[:answer_allow])
      @answers = Answer::Pool.new(password: @o[:answer_password], connect_timeout: @o[:answer_connect_timeout],
                                  timeout: @o[:answer_timeout], buffer: @o[:answer_buffer],
                                  on_reply: method(:on_answer_reply))
      @batch_size = 0
      @per_job = nil # s per job, smoothed: sizes the takes
      @untrusted_logged_at = nil
      @untrusted_unlogged = 0
      @warned_actions = {}
    end

    # true when it stopped cleanly
    def run
      backoff = BACKOFF_MIN
      down = false
      until @worker.stopping?
        begin
          batch = @source.next(batch_count)
          Tempest.logger.info("[w#{@index}] connected to Redis again") if down
          down = false
          backoff = BACKOFF_MIN
          run_batch(batch)
        rescue Redis::BaseConnectionError, Redis::CommandError, SystemCallError, IOError => e
          Tempest.logger.warn("[w#{@index}] #{e.class}: #{e.message}; retrying") unless down
          down = true
          pause(backoff)
          backoff = [backoff * 2, BACKOFF_MAX].min
        end
      end
      @answers.collect(@o[:answer_timeout], all: true) # at a stop: until answered, or down
      begin
        @source.stop # then the jobs leave the processing list
      rescue Redis::BaseError, SystemCallError, IOError => e
        Tempest.logger.warn("[w#{@index}] stop: #{e.message}")
      end
      true
    rescue Exception => e # rubocop:disable Lint/RescueException
      Tempest.logger.error("[w#{@index}] lane failed: #{e.class}: #{e.message}\n#{e.backtrace&.first(5)&.join("\n")}")
      @worker.stop
      false
    ensure
      @worker.count(:cancelled_dropped, @source.cancelled_dropped) if @source
      @answers.close
      @probe&.close
      @redis.close
    end

    # Sends an answer for job (Context#answer): written at once when the batch is one job or
    # has run longer than FLUSH_DELAY, else with the batch's other answers (one write per front
    # per batch: pipelining for throughput, bounded added latency). false when it was dropped
    # (its front is down); the front's reply is counted later (on_answer_reply).
    def send_answer(job, json)
      return false unless job.respond_to
      flush = @batch_size <= 1 || clock - @taken_at > FLUSH_DELAY
      @answers.answer(job.respond_to, job.action, job.id, json, flush: flush)
    end

    # Tempest::Stream's commands (protocol.md 10) on this lane's connection to the job's
    # respond_to, written at once (answers queued before them go first), blocking while 1 MiB is
    # unacknowledged: nil, or why the stream can take no more.
    def send_stream(job, command, payload) = @answers.stream(job.respond_to, command, job.id, payload)

    # Until the front has replied to the stream's commands (Stream#keep): nil, or why it failed.
    def settle_stream(job) = @answers.settle_stream(job.respond_to, job.id)

    # Is <respond_to>/<id> in tempest:cancelled? On a connection of its own, made on first use.
    def cancelled?(job)
      @probe ||= RedisURL.client(@o[:redis], timeout: 2)
      @probe.call("HEXISTS", Keys::CANCELLED, job.cancel_field) == 1
    rescue Redis::BaseError => e
      Tempest.logger.debug("[w#{@index} j#{job.id}] cannot ask Redis whether the job was cancelled: #{e.message}")
      false
    end

    private

    # The front's reply to an answer: +OK, or -ERR invalid answer / unknown job (2.3).
    def on_answer_reply(kind, id, text)
      return @worker.count(:answered) if kind == :ok
      return @worker.count(:answers_dropped, id) if kind == :dropped # id: how many
      @worker.count(:answers_refused)
      if text.start_with?("ERR unknown job")
        Tempest.logger.debug("[w#{@index} j#{id}] #{text}")
      else
        Tempest.logger.warn("[w#{@index} j#{id}] the front refused the answer: #{text}")
      end
    end

    def run_batch(batch)
      return if batch.empty?
      @taken_at = clock
      @batch_size = batch.size
      # Jobs taken are always handled and answered, even when Redis goes away meanwhile: a lost
      # LREM only leaves the job to the next take (which completes the batch) or the reaper.
      redis_ok = true
      batch.each_with_index do |payload, i|
        handle(payload)
        next unless redis_ok && i + 1 < batch.size && clock - @taken_at > FLUSH_DELAY
        begin
          @answers.flush_out # the answer is out before the job leaves the processing list
          @source.handled(payload)
        rescue Redis::BaseConnectionError, SystemCallError, IOError => e
          Tempest.logger.warn("[w#{@index}] #{e.message}; finishing the batch")
          redis_ok = false
        end
      end
      per_job = (clock - @taken_at) / batch.size
      @per_job = @per_job ? @per_job * 0.8 + per_job * 0.2 : per_job
      @answers.collect(@o[:answer_reply_wait])
    end

    # Up to `batch` jobs, about batch_time of work.
    def batch_count
      return 1 unless @per_job
      (@o[:batch_time] / [@per_job, 1e-6].max).floor.clamp(1, @o[:batch].to_i)
    end

    def handle(payload)
      job = Job.decode(payload)
      return if job.respond_to && !trusted?(job)
      if job.expired?
        @worker.count(:expired)
        return Tempest.logger.debug("[w#{@index} j#{job.id}] deadline passed before the job started; dropped")
      end
      handler = @worker.handler(job.action)
      return no_handler(job) unless handler

      ctx = Context.new(job, self)
      failed = false
      result = begin
        handler.call(ctx, job.url? ? job.request : job.args)
      rescue StandardError => e
        failed = true
        Tempest.logger.error("[w#{@index} j#{job.id}] handler for '#{job.action}' failed: #{e.class}: #{e.message}" \
                             "#{ctx.streaming? ? ' (after stream: the stream is aborted)' : ''}")
        return internal_error(ctx)
      ensure
        ctx.handler_returned(failed)
      end
      @worker.count(:handled)
      answer_result(ctx, result) unless ctx.answered?
    rescue BadJob => e
      Tempest.logger.warn("[w#{@index}] skipping a malformed job (#{e.message}): #{payload[0, 120]}")
    end

    # What a handler returned, when it did not answer itself: [status, headers, body] (or
    # [status, headers]); a String is a 200 text/plain body. For other actions: any value but nil.
    def answer_result(ctx, result)
      unless ctx.job.url?
        ctx.answer(result) unless result.nil?
        return
      end
      case result
      when Array
        return ctx.answer(*result) if (2..3).cover?(result.size)
      when String
        return ctx.answer(200, { "Content-Type" => "text/plain; charset=utf-8" }, result)
      end
      Tempest.logger.error("[w#{@index} j#{ctx.job_id}] the handler neither answered nor returned " \
                           "[status, headers, body] (got #{result.class}); sending 500")
      internal_error(ctx)
    end

    def internal_error(ctx)
      @worker.count(:errors)
      return if ctx.answered?
      if ctx.job.url?
        ctx.answer(500, { "Content-Type" => "text/plain" }, "Internal Server Error\n")
      else
        ctx.answer({ "error" => "internal error" })
      end
    end

    def no_handler(job)
      if job.url?
        return send_answer(job, Answer.encode_url(501, { "Content-Type" => "text/plain" }, "Not Implemented\n"))
      end
      return if @warned_actions[job.action]
      @warned_actions[job.action] = true
      Tempest.logger.warn("[w#{@index} j#{job.id}] no handler for action '#{job.action}'; such jobs are skipped")
    end

    # Announced in tempest:fronts or in answer_allow (3.5); else dropped, counted, logged
    # at most every 10 s.
    def trusted?(job)
      fetch = lambda do
        Answer::Targets.fetch(@redis)
      rescue Redis::BaseConnectionError, SystemCallError, IOError
        nil # counts as read now: a broken Redis is not asked per job
      end
      return true if @targets.allowed?(job.respond_to, @taken_at || clock, &fetch)
      @worker.count(:untrusted)
      @untrusted_unlogged += 1
      now = clock
      if @untrusted_logged_at.nil? || now - @untrusted_logged_at >= 10
        Tempest.logger.warn("[w#{@index} j#{job.id}] respond_to #{job.respond_to[0, 100].inspect} is neither announced " \
                            "by a front (#{Keys::FRONTS}) nor in answer_allow: job dropped unhandled " \
                            "(#{@untrusted_unlogged} such job(s) since the last such line)")
        @untrusted_logged_at = now
        @untrusted_unlogged = 0
      end
      false
    end

    def pause(seconds)
      until_t = clock + seconds
      sleep([0.05, until_t - clock].min) while !@worker.stopping? && clock < until_t
    end

    def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end
