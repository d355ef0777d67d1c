# frozen_string_literal: true

require_relative "test_helper"

# The shared protocol vectors (tests/protocol/, README.md there): the jobs the real front pushes
# for each request, as this client decodes them; and each answer, produced the client's native
# way (a handler's [status, headers, body]) or sent as is (the invalid ones), with the HTTP
# response the real front then gives.
class ProtocolVectorsTest < TempestTest::Case
  DIR = File.join(TempestTest::REPO, "tests", "protocol")
  PLACEHOLDERS = JSON.parse(File.read(File.join(DIR, "requests.json")))["placeholders"]

  def load(name) = JSON.parse(File.read(File.join(DIR, name)))["vectors"]

  def normalise(job)
    req = job[1][0].dup
    %w[remote_addr deadline].each { |k| req[k] = PLACEHOLDERS[k] if req.key?(k) }
    ["url", [req], PLACEHOLDERS["respond_to"], PLACEHOLDERS["job_id"]]
  end

  def test_request_vectors
    vectors = load("requests.json")
    refute_empty vectors
    vectors.each do |v|
      bytes = v["http_base64"] ? Base64.decode64(v["http_base64"]) : v["http"].b
      sock = TCPSocket.new("127.0.0.1", @front.http_port)
      sock.write(bytes)
      _, payload = redis.blpop("#{@queue}:high", @queue, "#{@queue}:low", timeout: 5)
      sock.close
      refute_nil payload, "#{v['name']}: no job pushed"
      job = JSON.parse(payload)
      assert_equal v["job"], normalise(job), "#{v['name']}: the job the front pushed"

      # What a handler sees of it.
      ctx = Tempest::Context.new(Tempest::Job.decode(JSON.generate(v["job"])), nil)
      r = v["job"][1][0]
      assert_equal [r["method"], r["path"], r["query"], r["headers"], r["remote_addr"], r["priority"], r["retry"]],
                   [ctx.method, ctx.path, ctx.query, ctx.headers, ctx.remote_addr, ctx.priority, ctx.retry], v["name"]
      body = r["body"] && (r["body_encoding"] == "base64" ? Base64.strict_decode64(r["body"]) : r["body"].b)
      if body.nil?
        assert_nil ctx.body, "#{v['name']}: no body"
      else
        assert_equal body, ctx.body, "#{v['name']}: body bytes"
      end
      r["headers"].each { |name, value| assert_equal value, ctx.header(name.upcase), v["name"] }
    end
  end

  # A vector's answer as a handler returns it: from "returns" when there is one, else from the wire.
  def native(v)
    if (r = v["returns"])
      body = r["body_base64"] ? Base64.strict_decode64(r["body_base64"]) : r["body"]
      return [r["status"], r["headers"], body]
    end
    status, headers, body = JSON.parse(v["wire"])
    body = Base64.strict_decode64(body["base64"]) if body.is_a?(Hash)
    [status, headers, body]
  end

  # GET path on a raw connection: { "status", "headers" (lower-case, date left out), "body" bytes }.
  def raw_get(path)
    s = TCPSocket.new("127.0.0.1", @front.http_port)
    s.write("GET #{path} HTTP/1.1\r\nHost: example.test\r\n\r\n")
    s.timeout = 5 if s.respond_to?(:timeout=)
    Timeout.timeout(5) do
      status = s.gets("\r\n")[/\AHTTP\/1\.1 (\d{3})/, 1].to_i
      headers = []
      while (line = s.gets("\r\n")) != "\r\n"
        name, value = line.chomp("\r\n").split(":", 2)
        headers << [name.downcase, value.strip] unless name.casecmp?("date")
      end
      len = headers.assoc("content-length")&.last.to_i
      { "status" => status, "headers" => headers, "body" => len.positive? ? s.read(len) : "".b }
    end
  ensure
    s&.close
  end

  def test_answer_vectors
    vectors = load("answers.json")
    refute_empty vectors
    w = start_worker do |ctx, _env|
      v = vectors[ctx.path.split("/").last.to_i]
      next native(v) if v["reply"] == "+OK"
      ctx.answer_json(v["wire"])
      nil
    end
    vectors.each_with_index do |v, i|
      got = raw_get("/vector/#{i}")
      want = v["http"]
      want_body = want["body_base64"] ? Base64.strict_decode64(want["body_base64"]) : want["body"].b
      assert_equal [want["status"], want["headers"], want_body], [got["status"], got["headers"], got["body"].b], v["name"]
    end
    invalid = vectors.count { |v| v["reply"] != "+OK" }
    wait_for("the replies counted") { w.stats[:answered] + w.stats[:answers_refused] == vectors.size }
    assert_equal [vectors.size - invalid, invalid], [w.stats[:answered], w.stats[:answers_refused]]
  end
end
