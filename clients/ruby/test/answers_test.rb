# frozen_string_literal: true

require_relative "test_helper"

# What a handler sees of the request and how its answer reaches the HTTP client.
class AnswersTest < TempestTest::Case
  def test_request_fields_in_the_context
    seen = nil
    start_worker do |ctx, env|
      seen = { method: ctx.method, path: ctx.path, query: ctx.query, params: ctx.params, ua: ctx.header("User-Agent"),
               x: ctx.headers["x-thing"], remote: ctx.remote_addr, priority: ctx.priority, deadline: ctx.deadline,
               retry: ctx.retry, body: ctx.body, env_url: env["url"], cancelled: ctx.cancelled?, id: ctx.job_id }
      [200, {}, "ok"]
    end
    t0 = Tempest.now_ms
    res = @front.request("PUT", "/a/./b//c?q=a+b&q=2&z=%C3%A9", headers: { "X-Thing" => "1", "User-Agent" => "t" },
                                                               body: "payload")
    assert_equal "ok", res.body
    assert_equal "PUT", seen[:method]
    assert_equal "/a/b/c", seen[:path], "the normalised path (protocol.md 1.7)"
    assert_equal "q=a+b&q=2&z=%C3%A9", seen[:query]
    assert_equal({ "q" => "a b", "z" => "é" }, seen[:params])
    assert_equal "t", seen[:ua]
    assert_equal "1", seen[:x]
    assert_match(/\A127\.0\.0\.1:\d+\z/, seen[:remote])
    assert_equal "normal", seen[:priority]
    assert_in_delta t0 + 30_000, seen[:deadline], 5_000
    assert_equal true, seen[:retry]
    assert_equal "payload", seen[:body]
    assert_equal Encoding::BINARY, seen[:body].encoding
    assert_equal "/a/./b//c?q=a+b&q=2&z=%C3%A9", seen[:env_url]
    assert_equal false, seen[:cancelled]
    assert_kind_of Integer, seen[:id]
  end

  def test_status_and_headers
    start_worker do |ctx, _env|
      case ctx.path
      when "/created" then [201, { "X-One" => "1", "X-Num" => 12, "Set-Cookie" => %w[a=1 b=2] }, "made"]
      when "/string-status" then ["404", { "Content-Type" => "text/plain" }, "nope"]
      when "/two" then [204, { "X-Empty" => "yes" }]
      when "/string" then "just text"
      when "/explicit" then ctx.answer(299, { "X-Way" => "answer" }, "via answer") && :ignored
      when "/bad-header" then [200, { "Bad Name" => "x", "X-Ok" => "y", "X-Crlf" => "a\r\nb" }, "filtered"]
      when "/raise" then raise "boom"
      when "/nil" then nil
      end
    end
    res = @front.get("/created")
    assert_equal ["201", "made", "1", "12"], [res.code, res.body, res["x-one"], res["x-num"]]
    assert_equal %w[a=1 b=2], res.get_fields("set-cookie")
    res = @front.get("/string-status")
    assert_equal ["404", "nope"], [res.code, res.body]
    res = @front.get("/two")
    assert_equal ["204", "yes"], [res.code, res["x-empty"]]
    assert_nil res.body
    res = @front.get("/string")
    assert_equal ["200", "just text", "text/plain; charset=utf-8"], [res.code, res.body, res["content-type"]]
    res = @front.get("/explicit")
    assert_equal ["299", "via answer", "answer"], [res.code, res.body, res["x-way"]]
    res = @front.get("/bad-header")
    assert_equal ["200", "filtered", "y", nil], [res.code, res.body, res["x-ok"], res["x-crlf"]]
    res = @front.get("/raise")
    assert_equal ["500", "Internal Server Error\n"], [res.code, res.body]
    assert_equal "500", @front.get("/nil").code
    assert_equal "200", @front.get("/string").code, "the worker goes on after errors"
  end

  def test_bodies_binary_unicode_empty
    start_worker do |ctx, _env|
      case ctx.path
      when "/echo" then [200, { "X-Enc" => ctx.body.encoding.to_s, "X-Size" => ctx.body.bytesize }, ctx.body]
      when "/unicode" then [200, { "Content-Type" => "text/plain; charset=utf-8" }, "héllo ✓ 日本 🎉"]
      when "/binary" then [200, {}, (0..255).map(&:chr).join.b]
      when "/empty" then [200, {}, ""]
      when "/nil-body" then [200, {}, nil]
      when "/array" then [200, {}, ["a", "b", "c"]]
      end
    end
    bytes = (0..255).map(&:chr).join.b * 3
    res = @front.request("POST", "/echo", body: bytes, headers: { "Content-Type" => "application/octet-stream" })
    assert_equal bytes, res.body.b, "a body that is not UTF-8 travels as base64 both ways (1.4, 2.2)"
    assert_equal ["ASCII-8BIT", "768"], [res["x-enc"], res["x-size"]]
    text = "grüße ☃ \u{1F600}"
    res = @front.request("POST", "/echo", body: text)
    assert_equal text, res.body.force_encoding("UTF-8")
    assert_equal "héllo ✓ 日本 🎉", @front.get("/unicode").body.force_encoding("UTF-8")
    assert_equal (0..255).map(&:chr).join.b, @front.get("/binary").body.b
    %w[/empty /nil-body].each do |p|
      res = @front.get(p)
      assert_equal ["200", "0"], [res.code, res["content-length"]], p
    end
    res = @front.request("POST", "/echo", body: "")
    assert_equal ["200", "0"], [res.code, res["x-size"]]
    assert_equal "abc", @front.get("/array").body
  end

  def test_other_actions_and_json_answers
    got = nil
    w = Tempest::Worker.new(**worker_options)
    w.on(:sum) { |ctx, args| got = [ctx.action, args]; nil }
    start_worker(w)
    redis.rpush(@queue, JSON.generate(["sum", [1, 2], nil, 7]))
    wait_for("the sum job") { got }
    assert_equal ["sum", [1, 2]], got
    assert_equal "501", @front.get("/no-url-handler").code, "a worker without a url handler answers 501"
  end
end
