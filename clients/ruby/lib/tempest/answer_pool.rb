# frozen_string_literal: true

require "socket"

# The answer connections of one lane (or of the reaper): one RESP connection per answer
# endpoint (respond_to), kept open, written and read by this lane only (protocol.md 2.1; mirrors
# src/core/answer/client.cpp). Answers are pipelined: a batch's answers go in one write per
# endpoint and their +OK / -ERR replies are read after the batch.
#
#   pool = Answer::Pool.new(password: nil, on_reply: ->(kind, id, text) { ... })
#   pool.answer(respond_to, "url", id, json, flush: true) # queue (and write now when flush)
#   pool.flush_out                                       # write what is queued, everywhere
#   pool.collect(0.1)                                    # read replies, at most 0.1 s per endpoint
#   pool.collect(5, all: true)                           # at a stop: until answered or down
#
# Connection states (all transitions in Endpoint):
#   none --send--> connect (connect_timeout), AUTH when a password is set --ok--> open
#   connect fails, AUTH refused, a write that cannot go within `timeout`, more than
#   `buffer` bytes unacknowledged (one answer alone always goes), or an answer unacknowledged
#   past `timeout`, or the front closed it -> down for 1 s: its queued and unacknowledged answers
#   are dropped (their requests get 504 at that front), counted and logged at most every 10 s.
# on_reply(kind, id, text) hears of each reply: :ok, or :error for a -ERR reply (invalid answer,
# unknown job), never a failure; and of drops: :dropped with their number and why.
module Tempest
  module Answer
    class Pool
      DOWN_FOR = 1.0 # s an endpoint that failed is skipped

      attr_reader :dropped

      def initialize(password: nil, connect_timeout: 0.5, timeout: 5.0, buffer: 8 << 20, on_reply: nil)
        @o = { password: password, connect_timeout: connect_timeout, timeout: timeout, buffer: buffer }
        @on_reply = on_reply || ->(*) {}
        @endpoints = {}
        @dropped = 0
        @dropped_unlogged = 0
        @logged_at = nil
      end

      # Queues "<action> <id> <json>" for respond_to, written at once when flush. false when the
      # endpoint is down (the answer dropped).
      def answer(respond_to, action, id, json, flush: true)
        ep = (@endpoints[respond_to] ||= Endpoint.new(respond_to, @o, self))
        ep.answer(action, id, json, flush)
      end

      def flush_out = @endpoints.each_value(&:flush)

      # Reads the replies owed, waiting at most `wait` seconds per endpoint (all: until every
      # answer is acknowledged, the endpoint is down, or `wait` passed).
      def collect(wait = 0.1, all: false)
        @endpoints.each_value { |ep| ep.collect(wait, all) }
      end

      def close
        @endpoints.each_value(&:close)
        @endpoints.clear
      end

      # From Endpoint: replies and losses.
      def reply(kind, id, text) = @on_reply.call(kind, id, text)

      def lost(respond_to, n, why)
        return if n.zero?
        @on_reply.call(:dropped, n, why)
        @dropped += n
        @dropped_unlogged += n
        now = Answer.clock
        return unless @logged_at.nil? || now - @logged_at >= 10
        Tempest.logger.warn("answer endpoint #{respond_to}: #{why}; #{@dropped_unlogged} answer(s) dropped " \
                            "(their requests get 504)")
        @logged_at = now
        @dropped_unlogged = 0
      end
    end

    def self.clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    # One answer endpoint's connection (see Pool).
    class Endpoint
      def initialize(respond_to, options, pool)
        @respond_to = respond_to
        @o = options
        @pool = pool
        @sock = nil
        @down_until = nil
        reset
      end

      def answer(action, id, json, flush)
        now = Answer.clock
        if @down_until && now < @down_until
          @pool.lost(@respond_to, 1, "marked down after a failure")
          return false
        end
        return false unless @sock || connect
        if @owed.any? && @owed_bytes + json.bytesize > @o[:buffer]
          fail_down("more than #{@o[:buffer]} bytes of answers unacknowledged", extra: 1)
          return false
        end
        @out << resp(action, id.to_s, json)
        @owed << [id, now]
        @owed_bytes += json.bytesize
        flush if flush
        @sock ? true : false
      end

      def flush
        return if @out.empty? || @sock.nil?
        deadline = Answer.clock + @o[:timeout]
        until @out.empty?
          n = @sock.write_nonblock(@out, exception: false)
          if n == :wait_writable
            left = deadline - Answer.clock
            return fail_down("an answer could not be written within #{@o[:timeout]} s") if left <= 0
            @sock.wait_writable(left)
            next
          end
          @out = @out.byteslice(n..) || +""
        end
      rescue SystemCallError, IOError => e
        fail_down(e.message)
      end

      def collect(wait, all)
        flush
        return if @sock.nil? || @owed.empty?
        deadline = Answer.clock + wait
        loop do
          read_replies
          return if @sock.nil? || @owed.empty?
          oldest = @owed.first[1]
          if Answer.clock - oldest > @o[:timeout]
            return fail_down("an answer unacknowledged for #{@o[:timeout]} s")
          end
          left = deadline - Answer.clock
          return if left <= 0
          @sock.wait_readable(all ? [left, 0.05].min : left)
        end
      end

      def close
        @sock&.close
        @sock = nil
      rescue IOError
        nil
      end

      private

      def reset
        @out = +"".b
        @in = +"".b
        @owed = [] # [job id, time sent] of each answer whose reply has not come
        @owed_bytes = 0
      end

      def resp(*args)
        s = +"*#{args.size}\r\n"
        args.each { |a| s << "$#{a.bytesize}\r\n" << a.b << "\r\n" }
        s.b
      end

      def connect
        host, port = Answer.split_endpoint(@respond_to)
        @sock = Socket.tcp(host, port, connect_timeout: @o[:connect_timeout])
        @sock.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
        auth if @o[:password] && !@o[:password].empty?
        @sock ? true : false
      rescue SystemCallError, IOError, SocketError, ArgumentError => e
        fail_down(e.message, extra: 1)
        false
      end

      def auth
        @sock.write(resp("AUTH", @o[:password]))
        deadline = Answer.clock + @o[:timeout]
        until (i = @in.index("\r\n"))
          left = deadline - Answer.clock
          return fail_down("no reply to AUTH within #{@o[:timeout]} s") if left <= 0 || !@sock.wait_readable(left)
          chunk = @sock.read_nonblock(4096, exception: false)
          return fail_down("closed during AUTH") if chunk.nil?
          @in << chunk if chunk.is_a?(String)
        end
        line = @in.slice!(0, i + 2).chomp
        fail_down("AUTH refused: #{line[1..]}") unless line.start_with?("+")
      end

      # Reads what has arrived (without blocking) and settles the answers it acknowledges.
      def read_replies
        loop do
          chunk = @sock.read_nonblock(65_536, exception: false)
          return fail_down("the front closed the connection") if chunk.nil?
          break if chunk == :wait_readable
          @in << chunk
        end
        while (i = @in.index("\r\n"))
          line = @in.slice!(0, i + 2).chomp
          id, = @owed.shift
          next if id.nil?
          @owed_bytes = 0 if @owed.empty?
          if line.start_with?("+")
            @pool.reply(:ok, id, line)
          else
            @pool.reply(:error, id, line.delete_prefix("-"))
          end
        end
      rescue SystemCallError, IOError => e
        fail_down(e.message)
      end

      def fail_down(why, extra: 0)
        @pool.lost(@respond_to, @owed.size + extra, why)
        close
        reset
        @down_until = Answer.clock + Pool::DOWN_FOR
        nil
      end
    end
  end
end
