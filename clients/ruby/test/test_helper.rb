# frozen_string_literal: true

# The suite's real parts: one redis-server per run on a free loopback port, and per test a
# real `tempest front` ($TEMPEST_BUILD_DIR/tempest, default <repo>/build) on port 0 with a
# queue of its own; workers run in-process (threads) or as subprocesses. Every wait has a
# deadline; every process is stopped at the end (Minitest.after_run, teardown).
require "minitest/autorun"
require "net/http"
require "socket"
require "timeout"
require "tmpdir"
require "fileutils"
require "tempest"

Tempest.logger.level = ENV.fetch("TEMPEST_TEST_LOG_LEVEL", "fatal")

module TempestTest
  CLIENT = File.expand_path("..", __dir__)               # clients/ruby
  REPO = File.expand_path("../..", CLIENT)               # the repository
  BUILD = ENV["TEMPEST_BUILD_DIR"].to_s.empty? ? File.join(REPO, "build") : ENV["TEMPEST_BUILD_DIR"]
  TEMPEST = File.join(BUILD, "tempest")

  module_function

  def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Polls the block until it returns a truthy value; fails after timeout seconds.
  def wait_for(what, timeout: 5, step: 0.02)
    deadline = clock + timeout
    loop do
      v = yield
      return v if v
      raise Minitest::Assertion, "timed out after #{timeout} s waiting for #{what}" if clock > deadline
      sleep step
    end
  end

  def free_port
    s = TCPServer.new("127.0.0.1", 0)
    s.addr[1]
  ensure
    s&.close
  end

  # Stops a child: TERM, then KILL after grace seconds.
  def stop_process(pid, grace: 5)
    return unless pid
    Process.kill("TERM", pid) rescue nil
    deadline = clock + grace
    until Process.waitpid(pid, Process::WNOHANG)
      if clock > deadline
        Process.kill("KILL", pid) rescue nil
        Process.waitpid(pid)
        break
      end
      sleep 0.02
    end
  rescue Errno::ECHILD
    nil
  end

  # The suite's redis-server, started on first use.
  def redis_url
    @redis_url ||= begin
      port = free_port
      @socket_dir = Dir.mktmpdir("tempest-rb-redis")
      @redis_pid = Process.spawn("redis-server", "--port", port.to_s, "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--unixsocket", redis_socket, out: File::NULL, err: File::NULL)
      url = "redis://127.0.0.1:#{port}/0"
      r = Redis.new(url: url, connect_timeout: 0.2)
      wait_for("redis-server on #{port}") { (r.ping == "PONG") rescue false }
      # A permanent member of tempest:workers with a heartbeat that never expires: the fronts ring
      # the bell from their first request on (they check once a second whether reliable workers
      # exist), so a test's first request does not wait for a worker's 1 s poll.
      r.set("tempest:worker:test-anchor", "1")
      r.call("SADD", "tempest:workers", "test-anchor")
      r.close
      Minitest.after_run do
        TempestTest.stop_process(@redis_pid)
        FileUtils.rm_rf(@socket_dir)
      end
      url
    end
  end

  # The same redis-server's unix socket (unix:<path> URLs).
  def redis_socket
    redis_url unless @socket_dir # starts the server
    File.join(@socket_dir, "redis.sock")
  end

  def redis = Redis.new(url: redis_url, timeout: 5)

  # One `tempest front` process (stopped by #stop).
  class Front
    attr_reader :http_port, :answer, :queue, :pid

    def initialize(queue, *args)
      raise "no tempest binary at #{TEMPEST} (set TEMPEST_BUILD_DIR)" unless File.executable?(TEMPEST)
      @queue = queue
      @out, w = IO.pipe
      @pid = Process.spawn(TEMPEST, "front", "--listen", "127.0.0.1:0", "--redis", TempestTest.redis_url,
                           "--queue", queue, "--log-level", "error", *args, out: w, err: File::NULL)
      w.close
      line = +""
      deadline = TempestTest.clock + 10
      until line.end_with?("\n")
        left = deadline - TempestTest.clock
        raise "the front printed no ready line within 10 s" if left <= 0 || !@out.wait_readable(left)
        line << (@out.read_nonblock(4096, exception: false).then { |c| c.is_a?(String) ? c : raise("front exited") })
      end
      m = line.match(/\Aready http=(\S+):(\d+) answer=(\S+)/) or raise "unexpected ready line: #{line}"
      @http_port = m[2].to_i
      @answer = m[3].split(",").first
      # announced (3.5) before any job: wait until tempest:fronts holds it
      r = TempestTest.redis
      TempestTest.wait_for("#{@answer} in tempest:fronts") { r.zscore("tempest:fronts", @answer) }
      r.close
    end

    def stop
      TempestTest.stop_process(@pid)
      @out.close
    end

    # One HTTP request on a fresh connection; a Net::HTTPResponse.
    def request(method, path, headers: {}, body: nil, timeout: 10)
      Net::HTTP.start("127.0.0.1", @http_port, open_timeout: 2, read_timeout: timeout) do |h|
        req = Net::HTTPGenericRequest.new(method, !body.nil?, method != "HEAD", path, headers)
        req.body = body if body
        h.request(req)
      end
    end

    def get(path, **o) = request("GET", path, **o)
  end

  # HTTP responses read off a raw socket, framing and all (chunked, Content-Length, or
  # close-delimited), for the streamed answers' tests.
  module RawHTTP
    module_function

    # Sends request (its bytes as is) on a new connection to port; returns the connection.
    def open(port, request)
      s = TCPSocket.new("127.0.0.1", port)
      s.write(request.b)
      s
    end

    # Reads the status line and header fields: [status, [[name, value], ...] lower-case, date left out].
    def head(s, timeout: 10)
      line = gets(s, timeout) or raise Minitest::Assertion, "no status line"
      status = line[%r{\AHTTP/1\.[01] (\d{3})}, 1].to_i
      headers = []
      while (l = gets(s, timeout)) && l != "\r\n"
        name, value = l.chomp("\r\n").split(":", 2)
        headers << [name.downcase, value.strip] unless name.casecmp?("date")
      end
      [status, headers]
    end

    # One chunk of a chunked body: its bytes, "" for the last chunk, nil when the connection
    # ended before it.
    def chunk(s, timeout: 10)
      size_line = gets(s, timeout) or return nil
      size = size_line.to_i(16)
      if size.zero?
        gets(s, timeout) # the empty line after the last chunk
        return "".b
      end
      data = read(s, size + 2, timeout)
      data && data.bytesize == size + 2 ? data.byteslice(0, size) : nil
    end

    # The whole response: {"status", "headers", "body", "complete", "closed"} (as tests/protocol/
    # streams.json's http).
    def response(s, head_request: false, timeout: 10)
      status, headers = head(s, timeout: timeout)
      h = headers.to_h
      body = +"".b
      complete = true
      eof = false
      if head_request || [204, 304].include?(status)
        nil
      elsif h["transfer-encoding"]&.include?("chunked")
        loop do
          c = chunk(s, timeout: timeout)
          if c.nil?
            complete = false
            eof = true
            break
          end
          break if c.empty?
          body << c
        end
      elsif h.key?("content-length")
        n = h["content-length"].to_i
        body = read(s, n, timeout) || +"".b
        complete = body.bytesize == n
        eof = !complete
      else
        body = read(s, nil, timeout) || +"".b
        eof = true
      end
      closed = eof || closed?(s)
      { "status" => status, "headers" => headers, "body" => body, "complete" => complete, "closed" => closed }
    end

    # Did the server close the connection (EOF within a short wait)?
    def closed?(s, wait = 0.3)
      return false unless s.wait_readable(wait)
      s.read_nonblock(1, exception: false).nil?
    rescue Errno::ECONNRESET
      true
    end

    def gets(s, timeout)
      raise Minitest::Assertion, "no response line within #{timeout} s" unless s.wait_readable(timeout)
      s.gets("\r\n")
    end

    # n bytes (or up to EOF when n is nil), nil at EOF before any.
    def read(s, n, timeout)
      out = +"".b
      deadline = TempestTest.clock + timeout
      while n.nil? || out.bytesize < n
        left = deadline - TempestTest.clock
        raise Minitest::Assertion, "body not read within #{timeout} s" if left <= 0 || !s.wait_readable(left)
        piece = s.read_nonblock(n ? [n - out.bytesize, 1 << 20].min : 1 << 20, exception: false)
        break if piece.nil?
        out << piece if piece.is_a?(String)
      end
      out
    rescue Errno::ECONNRESET
      out
    end
  end

  # A test with its own queue and front; start_worker runs a Tempest::Worker in a thread.
  class Case < Minitest::Test
    make_my_diffs_pretty!
    @@n = 0 # rubocop:disable Style/ClassVars

    def front_args = []

    def setup
      @@n += 1
      @queue = "rbt#{Process.pid}-#{@@n}"
      @front = Front.new(@queue, *front_args)
      @workers = []
      @pids = []
    end

    def teardown
      @workers.each { |w, _| w.stop }
      @workers.each do |w, t|
        t.join(5) or flunk("a worker did not stop within 5 s")
        t.value
      end
      @pids.each { |pid| TempestTest.stop_process(pid) }
      @front&.stop
      @redis&.close
    end

    def worker_options(**o) = { redis: TempestTest.redis_url, queue: @queue, heartbeat_ttl: 1000 }.merge(o)

    def start_worker(worker = nil, **options, &block)
      worker ||= Tempest::Worker.new(**worker_options(**options))
      worker.on(:url, &block) if block
      thread = Thread.new { worker.run(trap_signals: false) }
      @workers << [worker, thread]
      worker
    end

    # A Ruby subprocess (stopped at teardown) running script with args.
    def spawn_ruby(script, *args, env: {}, out: File::NULL)
      pid = Process.spawn({ "TEMPEST_REDIS" => TempestTest.redis_url }.merge(env), RbConfig.ruby,
                          "-I", File.join(CLIENT, "lib"), script, *args, out: out, err: out, chdir: CLIENT)
      @pids << pid
      pid
    end

    def redis = (@redis ||= TempestTest.redis)
    def wait_for(what, **o, &b) = TempestTest.wait_for(what, **o, &b)

    # The next value of queue q, failing after timeout seconds (Ruby 3.1's Queue#pop has none).
    def pop(q, what = "a value from the handler", timeout: 5)
      wait_for(what, timeout: timeout) { !q.empty? }
      q.pop
    end
  end
end
