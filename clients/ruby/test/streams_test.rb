# frozen_string_literal: true

require_relative "test_helper"
require "digest"

# Streamed answers through the client's API (ctx.stream, Stream#write/end/keep, chunk_many,
# end_many, answer_many: protocol.md 10, 12.1-12.3) against the real front, with the shared
# vectors of tests/protocol/streams.json.
class StreamsTest < TempestTest::Case
  RAW = TempestTest::RawHTTP
  VECTORS = File.join(TempestTest::REPO, "tests", "protocol", "streams.json")

  def front_args
    case name
    when "test_a_handler_that_fails_after_stream_aborts_it" then ["--stream-idle-timeout", "30s"]
    else []
    end
  end

  def bytes_of(item) = item.is_a?(Hash) ? Base64.strict_decode64(item["base64"]) : item.b

  def test_stream_vectors
    vectors = JSON.parse(File.read(VECTORS))["vectors"].select { |v| v["returns"] }
    assert_operator vectors.size, :>=, 3
    current = nil
    results = Queue.new
    start_worker do |ctx, _env|
      r = current["returns"]
      out = ctx.stream(r["status"], r["headers"])
      results << r["writes"].map { |w| out.write(bytes_of(w)) } # then the return ends it
      nil
    end
    vectors.each do |v|
      current = v
      s = RAW.open(@front.http_port, "#{v['request']}\r\nHost: example.test\r\n\r\n")
      got = RAW.response(s, head_request: v["request"].start_with?("HEAD"))
      s.close
      want = v["http"]
      want_body = want["body_base64"] ? Base64.strict_decode64(want["body_base64"]) : want["body"].b
      assert_equal [want["status"], want["headers"], want_body, want["complete"], want["closed"]],
                   [got["status"], got["headers"], got["body"], got["complete"], got["closed"]], v["name"]
      assert_equal [true] * v["returns"]["writes"].size, pop(results, timeout: 5), "#{v['name']}: every write true"
    end
  end

  def test_64_mib_stream_read_by_curl
    total = 64 << 20
    piece = Random.new(7).bytes(256 << 10)
    sent = Queue.new
    start_worker do |ctx, _env|
      out = ctx.stream(200, { "Content-Type" => "application/octet-stream" })
      d = Digest::SHA256.new
      (total / piece.bytesize).times do |i|
        chunk = [i].pack("N") + piece.byteslice(4..)
        d << chunk
        break unless out.write(chunk)
      end
      sent << [d.hexdigest, out.end, out.error]
      nil
    end
    d = Digest::SHA256.new
    n = 0
    t0 = TempestTest.clock
    IO.popen(["curl", "-sS", "--max-time", "60", "http://127.0.0.1:#{@front.http_port}/big"], "rb") do |io|
      while (b = io.read(1 << 20))
        n += b.bytesize
        d << b
      end
    end
    assert $?.success?, "curl failed (incomplete chunked body?): #{$?.inspect}"
    want, ended, error = pop(sent, timeout: 10)
    assert_equal [true, nil], [ended, error]
    assert_equal [total, want], [n, d.hexdigest], "64 MiB intact (#{(TempestTest.clock - t0).round(2)} s)"
  end

  def test_a_slow_client_blocks_the_writer
    total = 48 << 20
    written = 0
    done = Queue.new
    start_worker do |ctx, _env|
      out = ctx.stream(200, { "Content-Length" => total.to_s })
      chunk = "x".b * (64 << 10)
      (total / chunk.bytesize).times do
        break unless out.write(chunk)
        written += chunk.bytesize
      end
      done << [out.end, out.error]
      nil
    end
    s = RAW.open(@front.http_port, "GET /slow HTTP/1.1\r\nHost: example.test\r\n\r\n")
    sleep 1.5 # the client reads nothing: the front stops reading the worker, whose writes block
    at_pause = written
    assert_operator at_pause, :<, 40 << 20, "the writer was held back (#{at_pause} bytes written while the client read nothing)"
    got = RAW.response(s, timeout: 20)
    s.close
    assert_equal [200, total, true], [got["status"], got["body"].bytesize, got["complete"]]
    assert_equal [true, nil], pop(done, timeout: 10)
  end

  def test_a_client_that_leaves_makes_write_return_false
    seen = Queue.new
    start_worker do |ctx, _env|
      out = ctx.stream(200, { "Content-Type" => "text/plain" })
      chunk = "y".b * (64 << 10)
      deadline = TempestTest.clock + 15
      writes = 0
      writes += 1 while TempestTest.clock < deadline && out.write(chunk) && sleep(0.002)
      # the front marks the job cancelled (10.5) in tempest:cancelled
      r = TempestTest.redis
      marked = TempestTest.wait_for("the job in #{Tempest::Keys::CANCELLED}", timeout: 3) do
        r.hexists(Tempest::Keys::CANCELLED, ctx.job.cancel_field)
      end
      r.close
      seen << { ok: out.ok?, error: out.error, cancelled: ctx.cancelled?, marked: marked, writes: writes,
                later: out.write("more"), end: out.end }
      nil
    end
    s = RAW.open(@front.http_port, "GET /leave HTTP/1.1\r\nHost: example.test\r\n\r\n")
    status, = RAW.head(s)
    assert_equal 200, status
    assert RAW.chunk(s), "a first chunk"
    s.close
    got = pop(seen, timeout: 20) or flunk("the handler saw no failed write")
    assert_equal false, got[:ok]
    assert_match(/no open stream|client left|failed|broke/, got[:error])
    assert_equal [true, true, false, false], [got[:cancelled], got[:marked], got[:later], got[:end]]
  end

  def test_keep_and_chunk_many_reach_hanging_gets
    refs = Queue.new
    waiting = Queue.new
    w = start_worker do |ctx, _env|
      case ctx.path
      when "/hang"
        out = ctx.stream(200, { "Content-Type" => "text/plain" })
        out.write("hello\n")
        refs << out.keep
      when "/wait"
        waiting << ctx.keep
        ctx.answer(200, {}, "refused: kept") # a kept job is answered once, by answer_many
      end
      nil
    end
    clients = Array.new(3) { RAW.open(@front.http_port, "GET /hang HTTP/1.1\r\nHost: example.test\r\n\r\n") }
    clients.each do |s|
      assert_equal 200, RAW.head(s)[0]
      assert_equal "hello\n", RAW.chunk(s)
    end
    kept = Array.new(3) { pop(refs, timeout: 5) }
    assert kept.all?(Tempest::StreamRef)
    bogus = Tempest::StreamRef.new(kept[0].respond_to, 12_345)
    assert_equal [bogus], w.chunk_many(kept + [bogus], "news\n".b), "only the unknown id did not take it"
    clients.each { |s| assert_equal "news\n", RAW.chunk(s) }
    assert_equal [], w.chunk_many(kept, (0..255).map(&:chr).join.b)
    assert_equal [], w.end_many(kept)
    clients.each do |s|
      assert_equal (0..255).map(&:chr).join.b, RAW.chunk(s)
      assert_equal "", RAW.chunk(s), "the last chunk"
      refute RAW.closed?(s, 0.1), "keep-alive after mend"
      s.close
    end
    assert_equal kept, w.end_many(kept), "ended streams no longer take it"
    down = Tempest::StreamRef.new("127.0.0.1:#{TempestTest.free_port}", 1)
    assert_equal [down], w.chunk_many([down], "x"), "an unreachable endpoint: its refs"

    waiters = Array.new(2) { RAW.open(@front.http_port, "GET /wait HTTP/1.1\r\nHost: example.test\r\n\r\n") }
    held = Array.new(2) { pop(waiting, timeout: 5) }
    assert_equal [], w.answer_many(held, 200, { "Content-Type" => "text/plain" }, "to all")
    waiters.each do |s|
      got = RAW.response(s)
      s.close
      assert_equal [200, [["content-type", "text/plain"], ["content-length", "6"]], "to all"],
                   [got["status"], got["headers"], got["body"]]
    end
    assert_equal held, w.answer_many(held, 200, {}, "again"), "answered jobs no longer take it"
  end

  def test_a_handler_that_fails_after_stream_aborts_it
    start_worker do |ctx, _env|
      ctx.stream(200, {}).write("partial")
      raise "failed mid-stream"
    end
    s = RAW.open(@front.http_port, "GET /fail HTTP/1.1\r\nHost: example.test\r\n\r\n")
    # abort (protocol.md 10.9): the cut body at once, long before --stream-idle-timeout (30 s)
    got = RAW.response(s, timeout: 10)
    s.close
    assert_equal [200, "partial", false], [got["status"], got["body"], got["complete"]]
  end

  def test_a_forged_body_file_path_is_refused
    context = lambda do |path|
      job = ["url", [{ "method" => "POST", "url" => "/", "headers" => {},
                       "body_file" => { "path" => path, "size" => 1, "sha256" => "" } }], nil, 1]
      Tempest::Context.new(Tempest::Job.decode(JSON.generate(job)), nil)
    end
    ["/etc/passwd", "/s/../etc/upload-#{'0a' * 16}", "upload-#{'0a' * 16}", "/s/upload-#{'0A' * 16}"].each do |path|
      assert_raises(Tempest::BadJob, path) { context.call(path) }
    end
    assert_equal "/s/upload-#{'0a' * 16}", context.call("/s/upload-#{'0a' * 16}").body_file.path
  end

  def test_stream_after_answer_and_without_respond_to
    seen = Queue.new
    start_worker do |ctx, _env|
      ctx.answer(200, {}, "answered")
      out = ctx.stream(200, {})
      seen << [out.ok?, out.write("x"), out.error]
      nil
    end
    assert_equal "answered", @front.get("/").body
    ok, wrote, error = pop(seen, timeout: 5)
    assert_equal [false, false], [ok, wrote]
    assert_match(/already answered/, error)
    job = Tempest::Job.decode(JSON.generate(["url", [{ "method" => "GET", "url" => "/", "headers" => {} }], nil, 9]))
    out = Tempest::Context.new(job, nil).stream(200, {})
    assert_equal [false, "the job has no respond_to: nobody to stream to"], [out.write("x"), out.error]
  end
end
