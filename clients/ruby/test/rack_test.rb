# frozen_string_literal: true

require_relative "test_helper"
require "tempest/rack"
require "rack/lint"
require_relative "apps/sinatra_app"

# The Rack gateway with a real Sinatra application, checked by Rack::Lint (the Rack 2.2 SPEC,
# both ways: the environment we build and our use of the response).
class RackTest < TempestTest::Case
  def setup
    super
    start_worker(Tempest::Rack.worker(Rack::Lint.new(SinatraApp), **worker_options))
  end

  def test_routes_params_json_and_forms
    assert_equal ["200", "Hello from Sinatra"], [@front.get("/").code, @front.get("/").body]
    assert_equal "Hello bob! q=x y", @front.get("/hello/bob?q=x+y").body
    res = @front.get("/json", headers: { "User-Agent" => "minitest" })
    assert_equal "application/json", res["content-type"]
    assert_equal({ "ok" => true, "path" => "/json", "host" => "127.0.0.1", "port" => @front.http_port,
                   "ip" => "127.0.0.1", "script_name" => "", "ua" => "minitest" }, JSON.parse(res.body))
    res = @front.request("POST", "/echo-json", body: '{"a":[1,"é"]}', headers: { "Content-Type" => "application/json" })
    assert_equal({ "got" => { "a" => [1, "é"] }, "type" => "application/json", "length" => "14" }, JSON.parse(res.body))
    res = @front.request("POST", "/form", body: URI.encode_www_form(name: "Zoë", city: "Saint-Étienne"),
                                          headers: { "Content-Type" => "application/x-www-form-urlencoded" })
    assert_equal "name=Zoë city=Saint-Étienne", res.body.force_encoding("UTF-8")
  end

  def test_cookies_are_separate_fields
    res = @front.get("/cookies/set")
    assert_equal ["a=1", "b=2; path=/"], res.get_fields("set-cookie"), "Rack's \"\\n\"-joined values split"
    assert_equal "a=1 b=2", @front.get("/cookies/read", headers: { "Cookie" => "a=1; b=2" }).body
  end

  def test_errors_redirects_and_halts
    res = @front.get("/nothere")
    assert_equal "404", res.code
    assert_equal "pass", res["x-cascade"], "Sinatra's own 404"
    res = @front.get("/boom")
    assert_equal "500", res.code
    assert_includes res.body, "Internal Server Error"
    res = @front.get("/redirect")
    assert_equal ["302", "http://127.0.0.1:#{@front.http_port}/hello/redirected"], [res.code, res["location"]]
    res = @front.get("/halt")
    assert_equal ["418", "yes", "short and stout"], [res.code, res["x-teapot"], res.body]
    res = @front.request("HEAD", "/")
    assert_equal ["200", nil], [res.code, res.body]
  end

  def test_unicode_and_binary_bodies
    assert_equal "héllo wörld ✓ 日本", @front.get("/unicode").body.force_encoding("UTF-8")
    res = @front.get("/binary")
    assert_equal (0..255).map(&:chr).join.b, res.body.b
    assert_equal "application/octet-stream", res["content-type"]
    bytes = (0..255).map(&:chr).join.b
    res = @front.request("POST", "/upload-bytes", body: bytes, headers: { "Content-Type" => "application/octet-stream" })
    assert_equal "256 #{bytes.bytes.sum} ASCII-8BIT", res.body
  end

  def test_environment_details
    gw = Tempest::Rack::Gateway.new(->(_) { [200, {}, []] })
    job = Tempest::Job.decode(JSON.generate(["url", [{ "method" => "GET", "url" => "/p?q", "path" => "/p", "query" => "q",
                                                       "headers" => { "host" => "[::1]:8080", "x-real-ip" => "1",
                                                                      "x_real_ip" => "forged", "x_only" => "kept" },
                                                       "remote_addr" => "[::1]:5555", "http_version" => "1.0" }], nil, 1]))
    env = gw.env_for(Tempest::Context.new(job, nil))
    assert_equal ["[::1]", "8080", "::1", "HTTP/1.0", "1", "kept"],
                 env.values_at("SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "SERVER_PROTOCOL", "HTTP_X_REAL_IP", "HTTP_X_ONLY")
    refute env.key?("CONTENT_LENGTH")
    job = Tempest::Job.decode(JSON.generate(["url", [{ "method" => "GET", "url" => "/", "headers" => {} }], nil, 2]))
    env = gw.env_for(Tempest::Context.new(job, nil))
    assert_equal %w[localhost 80], env.values_at("SERVER_NAME", "SERVER_PORT")
    assert_equal Encoding::BINARY, env["rack.input"].external_encoding
  end
end

# bin/tempest-rack as users run it, on the same application's rackup file.
class RackExecutableTest < TempestTest::Case
  def test_tempest_rack_serves_a_config_ru
    spawn_ruby(File.join(TempestTest::CLIENT, "bin", "tempest-rack"), "test/apps/config.ru", "--queue", @queue,
               "--redis", TempestTest.redis_url, "-E", "production", "--concurrency", "2")
    res = @front.get("/hello/exe?q=1", timeout: 15)
    assert_equal ["200", "Hello exe! q=1"], [res.code, res.body]
    assert_equal ["a=1", "b=2; path=/"], @front.get("/cookies/set").get_fields("set-cookie")
  end

  def test_rackup_with_the_tempest_handler
    pid = Process.spawn({ "TEMPEST_REDIS" => TempestTest.redis_url }, "rackup", "-I", "lib", "-s", "tempest",
                        "-O", "queue=#{@queue}", "-E", "production", "examples/rack/config.ru",
                        chdir: TempestTest::CLIENT, out: File::NULL, err: File::NULL)
    @pids << pid
    res = @front.get("/", timeout: 15)
    assert_equal ["200", "Hello world!"], [res.code, res.body]
  end

  def test_the_example_rack_app
    spawn_ruby(File.join(TempestTest::CLIENT, "bin", "tempest-rack"), "examples/rack/config.ru", "--queue", @queue,
               "-E", "production")
    res = @front.get("/", timeout: 15)
    assert_equal ["200", "Hello world!"], [res.code, res.body]
    assert_equal "Hello you!", @front.get("/hello/you").body
  end
end

# Rack bodies that stream (protocol.md 12.5): anything but an Array is a streamed answer, each
# item of each one chunk as it comes, close called after; an Array stays one answer.
class RackStreamTest < TempestTest::Case
  RAW = TempestTest::RawHTTP

  class Closing
    def initialize(items, closed) = (@items, @closed = items, closed)
    def each(&block) = @items.each(&block)
    def close = (@closed << true)
  end

  def get(path)
    s = RAW.open(@front.http_port, "GET #{path} HTTP/1.1\r\nHost: example.test\r\n\r\n")
    RAW.response(s)
  ensure
    s&.close
  end

  def test_sinatra_stream_is_streamed
    start_worker(Tempest::Rack.worker(Rack::Lint.new(SinatraApp), **worker_options))
    s = RAW.open(@front.http_port, "GET /stream HTTP/1.1\r\nHost: example.test\r\n\r\n")
    t0 = TempestTest.clock
    status, headers = RAW.head(s)
    assert_equal [200, "chunked"], [status, headers.to_h["transfer-encoding"]]
    assert_equal "first\n", RAW.chunk(s)
    t_first = TempestTest.clock
    refute s.wait_readable(0.2), "nothing more yet: the app sleeps between its writes"
    assert_equal "second\n", RAW.chunk(s)
    assert_equal "third\n", RAW.chunk(s)
    assert_equal "", RAW.chunk(s), "the last chunk"
    t_end = TempestTest.clock
    s.close
    assert_operator t_end - t_first, :>=, 0.6, "the first chunk came before the end (#{(t_first - t0).round(2)} s " \
                                               "after the request, the end #{(t_end - t0).round(2)} s)"
    # Under Rack::Lint an Array body still makes one answer with its length.
    res = get("/")
    assert_equal [200, "18", nil], [res["status"], res["headers"].to_h["content-length"], res["headers"].to_h["transfer-encoding"]]
  end

  def test_bodies_that_are_not_arrays
    closed = Queue.new
    app = lambda do |env|
      h = { "Content-Type" => "text/plain" }
      case env["PATH_INFO"]
      when "/enum" then [200, h, Enumerator.new { |y| y << "a" << "" << "b" << "c" }]
      when "/proxy" then [200, h, Rack::BodyProxy.new(Closing.new(%w[x y], closed)) { closed << :proxy }]
      when "/proxy-array" then [200, h, Rack::BodyProxy.new(%w[x y]) { closed << :proxy }]
      when "/array" then [201, h, %w[one two]]
      when "/sized" then [200, h.merge("Content-Length" => "6"), Enumerator.new { |y| y << "abc" << "def" }]
      end
    end
    start_worker(Tempest::Rack.worker(app, **worker_options))
    res = get("/enum")
    assert_equal [200, "chunked", "abc"], [res["status"], res["headers"].to_h["transfer-encoding"], res["body"]]
    res = get("/proxy")
    assert_equal ["chunked", "xy", true], [res["headers"].to_h["transfer-encoding"], res["body"], res["complete"]]
    assert_equal [true, :proxy], [pop(closed), pop(closed)], "close called through the proxy"
    res = get("/proxy-array")
    assert_equal [nil, "2", "xy"], [res["headers"].to_h["transfer-encoding"], res["headers"].to_h["content-length"], res["body"]]
    assert_equal :proxy, pop(closed)
    res = get("/array")
    assert_equal [201, [["content-type", "text/plain"], ["content-length", "6"]], "onetwo"],
                 [res["status"], res["headers"], res["body"]]
    res = get("/sized")
    assert_equal [[["content-type", "text/plain"], ["content-length", "6"]], "abcdef", true],
                 [res["headers"], res["body"], res["complete"]], "a declared length is kept: the body sent as is"
  end
end
