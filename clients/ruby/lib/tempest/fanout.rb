# frozen_string_literal: true

require "socket"
require "set"

# One chunk, one end or one answer to many connections at once (protocol.md 10.6, 12.3): the
# refs (Tempest::StreamRef: respond_to and job id, from Stream#keep or Context#keep) are grouped
# per answer endpoint, one command per endpoint (`mchunk <ids> <bytes>`, `mend <ids>`,
# `murl <ids> <answer>`), all written before any reply is read; each call returns the refs that
# did not take it (unknown, ended, the client gone, or their endpoint unreachable).
#
#   fan = Tempest::Fanout.new(password: ENV["TEMPEST_ANSWER_PASSWORD"])
#   gone = fan.chunk_many(refs, "data: news\n\n")   # => [] when every stream took it
#   refs -= gone
#   fan.end_many(refs)
#   fan.answer_many(waiting, 200, { "Content-Type" => "text/plain" }, "to all\n")
#
# Thread-safe (one call at a time; its own connections, one per endpoint, kept open). A Worker
# has one (Worker#chunk_many, #end_many, #answer_many, also on the handler's ctx), so that kept
# streams can be written from any thread. A command whose connection fails is not resent: its
# refs are returned (the front may have taken it; the stream's next command tells).
module Tempest
  class Fanout
    Conn = Struct.new(:sock, :in)

    def initialize(password: nil, connect_timeout: 0.5, timeout: 5.0)
      @o = { password: password, connect_timeout: connect_timeout, timeout: timeout }
      @mutex = Mutex.new
      @conns = {} # respond_to -> Conn
    end

    # `mchunk`: bytes (any bytes, one chunk) to each kept stream.
    def chunk_many(refs, bytes)
      data = bytes.to_s
      many("mchunk", refs, data.encoding == Encoding::BINARY ? data : data.b)
    end

    # `mend`: ends each kept stream.
    def end_many(refs) = many("mend", refs, nil)

    # `murl`: one whole answer (as Context#answer's: status, headers, body) to each kept job
    # still waiting for its answer (Context#keep without a stream).
    def answer_many(refs, status = 200, headers = {}, body = nil)
      many("murl", refs, Answer.encode_url(status, headers, body))
    end

    # `murl` with the answer's JSON text as is.
    def answer_many_json(refs, json) = many("murl", refs, json.to_s)

    def close
      @mutex.synchronize do
        @conns.each_value { |c| c.sock.close rescue nil } # rubocop:disable Style/RescueModifier
        @conns.clear
      end
    end

    private

    def many(command, refs, payload)
      refs = refs.map { |r| r.is_a?(StreamRef) ? r : StreamRef.new(*r) }.uniq
      return [] if refs.empty?
      @mutex.synchronize do
        missed = Set.new
        sent = []
        refs.group_by(&:respond_to).each do |respond_to, group|
          conn = connection(respond_to)
          next missed.merge(group) unless conn
          ids = group.map { |r| r.job_id.to_s }.join(" ")
          cmd = Answer::Resp.command(*[command, ids, payload].compact)
          if (why = write_all(conn, cmd))
            drop(respond_to, why)
            next missed.merge(group)
          end
          sent << [respond_to, group]
        end
        sent.each do |respond_to, group|
          reply = read_reply(respond_to)
          case reply
          when Array
            left = reply.to_set(&:to_s)
            missed.merge(group.select { |r| left.include?(r.job_id.to_s) })
          when Answer::Resp::Error
            Tempest.logger.warn("#{command} to #{respond_to}: #{reply.message}")
            missed.merge(group)
          else
            missed.merge(group)
          end
        end
        refs.select { |r| missed.include?(r) }
      end
    end

    def connection(respond_to)
      @conns[respond_to] ||= begin
        host, port = Answer.split_endpoint(respond_to)
        sock = Socket.tcp(host, port, connect_timeout: @o[:connect_timeout])
        sock.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
        conn = Conn.new(sock, +"".b)
        if @o[:password] && !@o[:password].empty?
          @conns[respond_to] = conn
          write_all(conn, Answer::Resp.command("AUTH", @o[:password]))
          reply = read_reply(respond_to)
          raise IOError, "AUTH refused: #{reply.message}" if reply.is_a?(Answer::Resp::Error)
          raise IOError, "no reply to AUTH" unless reply
        end
        conn
      end
    rescue SystemCallError, IOError, SocketError, ArgumentError => e
      drop(respond_to, e.message)
      nil
    end

    # nil once written, else why not.
    def write_all(conn, bytes)
      until bytes.empty?
        n = conn.sock.write_nonblock(bytes, exception: false)
        if n == :wait_writable
          return "a command could not be written within #{@o[:timeout]} s" unless conn.sock.wait_writable(@o[:timeout])
          next
        end
        bytes = bytes.byteslice(n..)
      end
      nil
    rescue SystemCallError, IOError => e
      e.message
    end

    # The next reply on respond_to's connection, waiting while bytes keep coming (the front
    # delays a reply while a slow client's stream is full, 10.4); nil (and the connection
    # dropped) when none comes within the timeout or the connection broke.
    def read_reply(respond_to)
      conn = @conns[respond_to] or return nil
      loop do
        if (r = Answer::Resp.parse(conn.in))
          value, at = r
          conn.in = conn.in.byteslice(at..)
          return value
        end
        return drop(respond_to, "no reply within #{@o[:timeout]} s") unless conn.sock.wait_readable(@o[:timeout])
        chunk = conn.sock.read_nonblock(65_536, exception: false)
        return drop(respond_to, "the front closed the connection") if chunk.nil?
        conn.in << chunk if chunk.is_a?(String)
      end
    rescue Answer::Resp::ProtocolError, SystemCallError, IOError => e
      drop(respond_to, e.message)
    end

    def drop(respond_to, why)
      Tempest.logger.warn("answer endpoint #{respond_to}: #{why}")
      c = @conns.delete(respond_to)
      c&.sock&.close rescue nil # rubocop:disable Style/RescueModifier
      nil
    end
  end
end
