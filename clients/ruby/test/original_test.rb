# frozen_string_literal: true

require_relative "test_helper"

# Jobs in the original 2012 format (ORIGINAL-PROTOCOL.md: {method, url, headers, body}, no
# path/query/priority/deadline, pushed with a bare RPUSH and no bell) answered to a front
# that announces nothing: allowed by answer_allow (3.5). Any other respond_to is not answered.
class OriginalTest < TempestTest::Case
  # A stand-in for the 2012 front's answer endpoint: a RESP server that records the commands.
  class OldFront
    attr_reader :port, :commands

    def initialize
      @server = TCPServer.new("127.0.0.1", 0)
      @port = @server.addr[1]
      @commands = Queue.new
      @thread = Thread.new do
        loop do
          client = @server.accept
          Thread.new(client) { |c| serve(c) }
        end
      rescue IOError
        nil
      end
    end

    def close
      @server.close
      @thread.join(2)
    end

    private

    def serve(c)
      loop do
        line = c.gets or break
        n = line[1..].to_i
        args = Array.new(n) do
          len = c.gets[1..].to_i
          c.read(len + 2)[0, len]
        end
        @commands << args
        c.write(args[0].casecmp?("info") ? "$23\r\nredis_version:2.4.0\r\n\r\n" : "+OK\r\n")
      end
    rescue IOError, SystemCallError
      nil
    ensure
      c.close
    end
  end

  def setup
    super
    @old = OldFront.new
  end

  def teardown
    super
    @old.close
  end

  def handler
    lambda do |ctx, env|
      [200, { "Content-type" => "text/plain", "Content-length" => 0 },
       "#{ctx.method} #{ctx.path} #{ctx.query} #{ctx.priority} #{ctx.deadline.inspect} #{ctx.body.inspect} #{env.keys.sort.join(',')}"]
    end
  end

  def original_job(id, request, respond_to: "127.0.0.1:#{@old.port}")
    JSON.generate(["url", [request], respond_to, id])
  end

  %i[reliable plain].each do |mode|
    define_method("test_original_job_#{mode}") do
      w = Tempest::Worker.new(**worker_options(mode: mode, answer_allow: ["127.0.0.1:#{@old.port}"]))
      w.on(:url, &handler)
      start_worker(w)
      redis.rpush(@queue, original_job(42, { "method" => "GET", "url" => "/orig/path?x=1&y=2", "headers" => { "host" => "old" } }))
      redis.rpush(@queue, original_job(43, { "method" => "POST", "url" => "/form", "headers" => {}, "body" => "a=1" }))
      got = Array.new(2) { Timeout.timeout(5) { @old.commands.pop } }
      assert_equal ["url", "42"], got[0][0, 2]
      assert_equal [200, { "Content-type" => "text/plain", "Content-length" => "0" },
                    "GET /orig/path x=1&y=2 normal nil nil headers,method,url"], JSON.parse(got[0][2])
      assert_equal ["url", "43"], got[1][0, 2]
      assert_equal 'POST /form  normal nil "a=1" body,headers,method,url', JSON.parse(got[1][2])[2]
    end
  end

  def test_unannounced_respond_to_is_not_answered
    seen = []
    w = start_worker do |ctx, _env|
      seen << ctx.path
      [200, {}, "x"]
    end
    redis.rpush(@queue, original_job(1, { "method" => "GET", "url" => "/evil", "headers" => {} }))
    assert_equal "x", @front.get("/good").body
    wait_for("the untrusted job dropped") { w.stats[:untrusted] == 1 }
    assert_equal ["/good"], seen
    assert_empty @old.commands
  end
end
