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
