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
#   pool.stream(respond_to, "chunk", id, bytes)          # a stream command (protocol.md 10): nil, or why not
#   pool.settle_stream(respond_to, id)                   # until the front acknowledged the stream's commands
#
# Connection states (all transitions in Endpoint):
#   none --send--> connect (connect_timeout), AUTH when a password is set --ok--> open
#   connect fails, AUTH refused, a write that cannot go within `timeout`, more than
#   `buffer` bytes unacknowledged (one answer alone always goes), or an answer unacknowledged
#   past `timeout`, or the front closed it -> down for 1 s: its queued and unacknowledged answers
#   are dropped (their requests get 504 at that front), counted and logged at most every 10 s.
# Stream commands (stream/chunk/end, protocol.md 10; Tempest::Stream) share the connection but,
# unlike answers, block: while the unacknowledged commands pass STREAM_WINDOW (1 MiB, at most
# `buffer`) the next one waits for replies (the front stops reading a connection whose client is
# slow, 10.4); no progress for `timeout` marks the endpoint down. They are never resent: when the
# connection breaks, every stream with a command unacknowledged fails, and a -ERR reply to one of
# its commands fails a stream (its next call returns false with the error).
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

      # A stream command for job id at respond_to (payload nil for "end"): nil once written, else
      # why the stream can take no more.
      def stream(respond_to, command, id, payload)
        ep = (@endpoints[respond_to] ||= Endpoint.new(respond_to, @o, self))
        ep.stream(command, id, payload)
      end

      # Waits until the front has replied to every command of stream id: nil, or why it failed.
      def settle_stream(respond_to, id)
        @endpoints[respond_to]&.settle_stream(id)
      end

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

    # RESP: commands as arrays of bulk strings (binary-safe), and the replies an answer endpoint
    # gives (+status, -error, :integer, $bulk, *array of them).
    module Resp
      class ProtocolError < StandardError; end
      Error = Struct.new(:message) do
        def to_s = message
      end

      module_function

      def command(*args)
        s = +"*#{args.size}\r\n"
        args.each do |a|
          a = a.to_s
          s << "$#{a.bytesize}\r\n" << (a.encoding == Encoding::BINARY ? a : a.b) << "\r\n"
        end
        s.force_encoding(Encoding::BINARY)
      end

      # One reply from buf (binary) at byte offset at: [value, next offset], or nil when it has
      # not all arrived. value: a String (status or bulk), Resp::Error, an Integer, nil or an Array.
      def parse(buf, at = 0)
        return nil if at >= buf.bytesize
        nl = buf.index("\r\n", at) or return nil
        type = buf.getbyte(at)
        line = buf.byteslice(at + 1, nl - at - 1)
        after = nl + 2
        case type
        when 43 then [line, after] # +
        when 45 then [Error.new(line.force_encoding(Encoding::UTF_8).scrub), after] # -
        when 58 then [Integer(line, 10), after] # :
        when 36 # $
          n = Integer(line, 10)
          return [nil, after] if n.negative?
          return nil if buf.bytesize < after + n + 2
          [buf.byteslice(after, n), after + n + 2]
        when 42 # *
          n = Integer(line, 10)
          return [nil, after] if n.negative?
          items = Array.new(n) do
            r = parse(buf, after) or return nil
            after = r[1]
            r[0]
          end
          [items, after]
        else
          raise ProtocolError, "unexpected reply type #{type.chr.inspect}"
        end
      rescue ArgumentError => e
        raise ProtocolError, e.message
      end
    end

    # One answer endpoint's connection (see Pool).
    class Endpoint
      STREAM_WINDOW = 1 << 20 # bytes of commands unacknowledged before a stream command waits
      FAILED_KEPT = 64        # failed streams remembered (their later calls return the error)

      def initialize(respond_to, options, pool)
        @respond_to = respond_to
        @o = options
        @pool = pool
        @sock = nil
        @down_until = nil
        @failed_streams = {} # job id -> why (the latest FAILED_KEPT)
        @last_reply_at = 0.0
        reset
      end

      def stream(command, id, payload)
        read_replies if @sock
        return @failed_streams[id] if @failed_streams.key?(id)
        return "answer endpoint #{@respond_to} is down (a failure less than 1 s ago)" if @down_until && Answer.clock < @down_until
        return "answer endpoint #{@respond_to} cannot be reached" unless @sock || connect(extra: 0)
        cmd = payload.nil? ? resp(command, id.to_s) : resp(command, id.to_s, payload)
        unless wait_for_room(cmd.bytesize)
          return @failed_streams[id] || "answer endpoint #{@respond_to} is down or stopped reading"
        end
        @owed << [id, Answer.clock, :stream, cmd.bytesize]
        @owed_bytes += cmd.bytesize
        if @out.empty?
          @out = cmd
        else
          @out << cmd
        end
        flush
        return @failed_streams[id] || "the answer connection to #{@respond_to} broke" if @sock.nil?
        @failed_streams[id]
      end

      def settle_stream(id)
        progress_at = Answer.clock
        while @sock && @owed.any? { |e| e[0] == id && e[2] == :stream }
          flush
          break unless @sock
          before = @owed.size
          read_replies
          break unless @sock
          now = Answer.clock
          progress_at = now if @owed.size < before
          if now - progress_at > @o[:timeout]
            fail_down("no reply to a stream's commands within #{@o[:timeout]} s")
            break
          end
          @sock.wait_readable(0.1) if @owed.any? { |e| e[0] == id && e[2] == :stream }
        end
        @failed_streams[id]
      end

      def answer(action, id, json, flush)
        now = Answer.clock
        if @down_until && now < @down_until
          @pool.lost(@respond_to, 1, "marked down after a failure")
          return false
        end
        return false unless @sock || connect
        cmd = resp(action, id.to_s, json)
        if @owed.any? && @owed_bytes + cmd.bytesize > @o[:buffer]
          fail_down("more than #{@o[:buffer]} bytes of answers unacknowledged", extra: 1)
          return false
        end
        @out << cmd
        @owed << [id, now, :answer, cmd.bytesize]
        @owed_bytes += cmd.bytesize
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
          oldest = [@owed.first[1], @last_reply_at].max # a front that replies is not hung
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
        @owed = [] # [job id, time sent, :answer or :stream, RESP bytes] of each command whose reply has not come
        @owed_bytes = 0
      end

      def resp(*args) = Resp.command(*args)

      # Waits until len more bytes fit in the stream window (one command alone always goes), as
      # long as replies keep coming: none for `timeout` marks the endpoint down.
      def wait_for_room(len)
        window = [STREAM_WINDOW, @o[:buffer]].min
        progress_at = Answer.clock
        while @sock && @owed.any? && @owed_bytes + len > window
          before = @owed_bytes
          @sock.wait_readable(0.1)
          read_replies
          break unless @sock
          now = Answer.clock
          if @owed_bytes < before
            progress_at = now
          elsif now - progress_at > @o[:timeout]
            fail_down("stream writes stalled for #{@o[:timeout]} s (no reply)")
          end
        end
        !@sock.nil?
      end

      def stream_failed(id, why)
        @failed_streams[id] ||= why
        @failed_streams.shift while @failed_streams.size > FAILED_KEPT
      end

      def connect(extra: 1)
        host, port = Answer.split_endpoint(@respond_to)
        @sock = Socket.tcp(host, port, connect_timeout: @o[:connect_timeout])
        @sock.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
        auth if @o[:password] && !@o[:password].empty?
        @sock ? true : false
      rescue SystemCallError, IOError, SocketError, ArgumentError => e
        fail_down(e.message, extra: extra)
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
        at = 0
        while (r = Resp.parse(@in, at))
          value, at = r
          settle(value)
        end
        @in = @in.byteslice(at..) if at.positive?
      rescue Resp::ProtocolError => e
        fail_down("unreadable reply: #{e.message}")
      rescue SystemCallError, IOError => e
        fail_down(e.message)
      end

      def settle(value)
        id, _, kind, bytes = @owed.shift
        return if id.nil?
        @owed_bytes = @owed.empty? ? 0 : @owed_bytes - bytes
        @last_reply_at = Answer.clock
        error = value.is_a?(Resp::Error) ? value.message : nil
        if kind == :stream
          stream_failed(id, error) if error
        elsif error
          @pool.reply(:error, id, error)
        else
          @pool.reply(:ok, id, value.to_s)
        end
      end

      def fail_down(why, extra: 0)
        answers = 0
        @owed.each do |id, _, kind|
          if kind == :stream
            stream_failed(id, "the answer connection to #{@respond_to} failed (#{why}); stream commands are not resent")
          else
            answers += 1
          end
        end
        @pool.lost(@respond_to, answers + extra, why)
        close
        reset
        @down_until = Answer.clock + Pool::DOWN_FOR
        nil
      end
    end
  end
end
