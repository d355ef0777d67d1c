# frozen_string_literal: true

require_relative "test_helper"

# The stream window of the answer connection (protocol.md 12.1), against a fake answer endpoint
# on loopback that reads every command but replies only when told: at most 1 MiB of stream
# commands unacknowledged, the next write waits for replies; a -ERR reply fails the stream; a
# broken connection fails the streams with commands unacknowledged (never resent).
class StreamWindowTest < Minitest::Test
  Resp = Tempest::Answer::Resp

  # Reads RESP commands on one connection; replies +OK to as many as `release` allows.
  class FakeEndpoint
    attr_reader :commands, :port

    def initialize
      @server = TCPServer.new("127.0.0.1", 0)
      @port = @server.addr[1]
      @commands = []
      @allowed = 0
      @replied = 0
      @errors = {}
      @mutex = Mutex.new
      @thread = Thread.new { serve }
    end

    def release(n = Float::INFINITY) = @mutex.synchronize { @allowed = n }
    def error_for(index, text) = @mutex.synchronize { @errors[index] = text }
    def count = @mutex.synchronize { @commands.size }

    def drop_connection
      @mutex.synchronize { @conn&.close }
    end

    def close
      @thread.kill
      @server.close
      @conn&.close rescue nil # rubocop:disable Style/RescueModifier
    end

    private

    def serve
      @conn = @server.accept
      buf = +"".b
      loop do
        if @conn.wait_readable(0.02)
          piece = @conn.read_nonblock(1 << 20, exception: false)
          break if piece.nil?
          buf << piece if piece.is_a?(String)
        end
        at = 0
        while (r = Resp.parse(buf, at))
          @mutex.synchronize { @commands << r[0] }
          at = r[1]
        end
        buf = buf.byteslice(at..) if at.positive?
        @mutex.synchronize do
          while @replied < [@allowed, @commands.size].min
            @conn.write(@errors[@replied] ? "-#{@errors[@replied]}\r\n" : "+OK\r\n")
            @replied += 1
          end
        end
      end
    rescue IOError, SystemCallError
      nil
    end
  end

  def setup
    @fake = FakeEndpoint.new
    @pool = Tempest::Answer::Pool.new(timeout: 5)
    @endpoint = "127.0.0.1:#{@fake.port}"
  end

  def teardown
    @pool.close
    @fake.close
  end

  def test_at_most_one_mib_unacknowledged
    chunk = "z".b * (64 << 10)
    written = 0
    writer = Thread.new do
      why = nil
      40.times do
        why = @pool.stream(@endpoint, "chunk", 7, chunk)
        break if why
        written += 1
      end
      why
    end
    TempestTest.wait_for("the window filled") { @fake.count >= 10 && (sleep(0.3) || true) }
    held = written
    cmd_bytes = Resp.command("chunk", "7", chunk).bytesize
    assert_operator held * cmd_bytes, :<=, 1 << 20, "no more than 1 MiB of chunks unacknowledged (#{held} written)"
    assert_operator held, :>=, 10
    assert writer.alive?, "the writer waits for replies"
    @fake.release
    assert writer.join(5), "the writer goes on once replies come"
    assert_nil writer.value
    assert_equal 40, written
    TempestTest.wait_for("40 commands") { @fake.count == 40 }
    assert_equal ["chunk", "7", chunk], @fake.commands.last, "a chunk is one binary-safe bulk string"
  end

  def test_an_error_reply_fails_the_stream
    @fake.error_for(1, "ERR no open stream 7 (never started, ended, timed out, or the client left)")
    @fake.release
    assert_nil @pool.stream(@endpoint, "stream", 7, "[200, {}]")
    assert_nil @pool.stream(@endpoint, "chunk", 7, "a")
    assert_match(/\AERR no open stream 7/, @pool.settle_stream(@endpoint, 7))
    assert_match(/\AERR no open stream 7/, @pool.stream(@endpoint, "chunk", 7, "b"))
    assert_equal 2, @fake.count, "nothing sent after the error"
  end

  def test_stream_commands_are_not_resent_after_a_broken_connection
    assert_nil @pool.stream(@endpoint, "stream", 8, "[200, {}]") # no reply: unacknowledged
    TempestTest.wait_for("the head read") { @fake.count == 1 }
    @fake.drop_connection
    why = TempestTest.wait_for("the stream failed", timeout: 3) do
      w = @pool.stream(@endpoint, "chunk", 8, "x")
      w unless w.nil?
    end
    assert_match(/not resent|closed|broke|down/, why)
    assert_equal 1, @fake.count, "the head was not sent again"
  end

  def test_replies_parse
    assert_equal ["OK", 5], Resp.parse("+OK\r\n".b)
    assert_equal [%w[12 15], 20], Resp.parse("*2\r\n$2\r\n12\r\n$2\r\n15\r\n".b)
    assert_equal [[], 4], Resp.parse("*0\r\n".b)
    assert_nil Resp.parse("*2\r\n$2\r\n12\r\n".b), "incomplete"
    assert_equal "ERR x", Resp.parse("-ERR x\r\n".b)[0].message
    assert_equal "*3\r\n$5\r\nchunk\r\n$1\r\n1\r\n$3\r\n\x00\xFF\n\r\n".b, Resp.command("chunk", 1, "\x00\xFF\n".b)
  end
end
