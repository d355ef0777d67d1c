# frozen_string_literal: true

require_relative "test_helper"

# publish(channel, data, event:) reaches a Server-Sent Events subscriber of /sub/<channel>
# (7.4) and is recorded in the channel's history, which a reconnecting client replays (7.5, 7.6).
class PublishTest < TempestTest::Case
  # A raw event-stream reader: events are the blocks between blank lines.
  class Stream
    def initialize(port, path, headers = {})
      @s = TCPSocket.new("127.0.0.1", port)
      extra = headers.map { |k, v| "#{k}: #{v}\r\n" }.join
      @s.write("GET #{path} HTTP/1.1\r\nHost: t\r\n#{extra}\r\n")
      @buf = +""
      head = read_until("\r\n\r\n")
      raise "not an event stream: #{head}" unless head.start_with?("HTTP/1.1 200") && head.include?("text/event-stream")
    end

    # The next block as { "event" => ..., "data" => ..., "id" => ... } (comments skipped).
    def next_block(timeout = 5)
      loop do
        block = read_until("\n\n", timeout)
        fields = {}
        block.each_line(chomp: true) do |l|
          next if l.start_with?(":") || l.empty?
          k, v = l.split(": ", 2)
          fields[k] = fields.key?(k) && k == "data" ? "#{fields[k]}\n#{v}" : v.to_s
        end
        return fields unless fields.empty?
      end
    end

    def close = @s.close

    private

    def read_until(sep, timeout = 5)
      deadline = TempestTest.clock + timeout
      until (i = @buf.index(sep))
        left = deadline - TempestTest.clock
        raise Minitest::Assertion, "no #{sep.inspect} within #{timeout} s (got #{@buf.inspect})" if left <= 0 || !@s.wait_readable(left)
        chunk = @s.read_nonblock(65_536, exception: false)
        raise Minitest::Assertion, "the stream closed" if chunk.nil?
        @buf << chunk if chunk.is_a?(String)
      end
      @buf.slice!(0, i + sep.size)
    end
  end

  def test_publish_reaches_a_subscriber_and_the_history
    channel = "news-#{@queue}"
    sub = Stream.new(@front.http_port, "/sub/#{channel}")
    assert_equal({ "retry" => "2000", "id" => "#{channel}=0" }, sub.next_block, "7.2")
    ids = []
    start_worker do |ctx, _env|
      ids << ctx.publish(channel, ctx.params["text"], event: ctx.params["event"])
      [200, {}, "published"]
    end
    wait_for("the front subscribed") { redis.call("PUBSUB", "NUMSUB", channel)[1].positive? }
    assert_equal "published", @front.get("/p?text=hello&event=greeting").body
    ev = sub.next_block
    assert_equal({ "event" => "greeting", "data" => "hello", "id" => "#{channel}=#{ids[0]}" }, ev)
    assert_equal "published", @front.get("/p?text=line1%0Aline2%20%C3%A9").body
    ev = sub.next_block
    assert_equal({ "data" => "line1\nline2 é", "id" => "#{channel}=#{ids[1]}" }, ev.transform_values { |v| v.force_encoding("UTF-8") })
    sub.close

    entries = redis.xrange("tempest:history:#{channel}")
    assert_equal [[ids[0], { "e" => "greeting", "d" => "hello" }], [ids[1], { "e" => "", "d" => "line1\nline2 é" }]], entries
    assert redis.pttl("tempest:history:#{channel}").between?(1, 3_600_000)

    # A client coming back with the first id gets the second event from the history.
    again = Stream.new(@front.http_port, "/sub/#{channel}", "Last-Event-ID" => "#{channel}=#{ids[0]}")
    again.next_block # retry and id
    assert_equal "line1\nline2 é", again.next_block["data"].force_encoding("UTF-8")
    again.close
  end

  def test_publisher_checks_its_arguments
    pub = Tempest::Publisher.new(TempestTest.redis_url)
    assert_raises(ArgumentError) { pub.publish("bad channel", "x") }
    assert_raises(ArgumentError) { pub.publish("ok", "\xff".b) }
    assert_raises(ArgumentError) { pub.publish("ok", "x", event: "a\nb") }
    assert_match(/\A\d+-\d+\z/, pub.publish("ok-#{@queue}", "x"))
    live = Tempest::Publisher.new(TempestTest.redis_url, history_count: 0)
    assert_nil live.publish("live-#{@queue}", "x")
    refute redis.exists?("tempest:history:live-#{@queue}")
  ensure
    pub&.close
    live&.close
  end
end
