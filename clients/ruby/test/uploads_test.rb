# frozen_string_literal: true

require_relative "test_helper"
require "digest"
require "tempest/rack"
require "rack/lint"
require_relative "apps/sinatra_app"

# Uploads the front spooled to a file (protocol.md 11, 12.4): the shared vectors of
# tests/protocol/uploads.json through the real front started with their front_flags, as a
# handler sees them (ctx.body_file, ctx.body_io), and a 5 MiB upload read by a Rack application
# from rack.input.
module SpoolDir
  def setup
    @spool = Dir.mktmpdir("tempest-rb-spool") # 0700, ours: what the front wants (11.3)
    super
  end

  def teardown
    super
    FileUtils.rm_rf(@spool)
  end
end

class UploadVectorsTest < TempestTest::Case
  include SpoolDir
  DATA = JSON.parse(File.read(File.join(TempestTest::REPO, "tests", "protocol", "uploads.json")))
  PLACEHOLDERS = JSON.parse(File.read(File.join(TempestTest::REPO, "tests", "protocol", "requests.json")))["placeholders"]

  def front_args = DATA["front_flags"] + ["--spool-dir", @spool]

  def test_upload_vectors
    vectors = DATA["vectors"]
    assert_operator vectors.count { |v| v["job"][1][0]["body_file"] }, :>=, 3
    seen = Queue.new
    start_worker do |ctx, env|
      f = ctx.body_file
      seen << { env: JSON.parse(JSON.generate(env)), file: f, exists: f && File.file?(f.path), verify: f&.verify?,
                read: ctx.body_io.read, io: ctx.body_io.class, body: ctx.body, size: ctx.body_size }
      [200, {}, "ok"]
    end
    vectors.each do |v|
      bytes = v["http_base64"] ? Base64.decode64(v["http_base64"]) : v["http"].b
      s = TempestTest::RawHTTP.open(@front.http_port, bytes)
      got = TempestTest::RawHTTP.response(s)
      s.close
      assert_equal [200, "ok"], [got["status"], got["body"]], v["name"]
      h = pop(seen)
      want = v["job"][1][0]
      req = h[:env]
      %w[remote_addr deadline].each { |k| req[k] = PLACEHOLDERS[k] if req.key?(k) }
      if want["body_file"]
        assert_match(%r{\A#{Regexp.escape(File.realpath(@spool))}/upload-\h{32}\z}, File.expand_path(req["body_file"]["path"]),
                     "#{v['name']}: the file in --spool-dir")
        req["body_file"]["path"] = DATA["placeholders"]["path"]
        content = v["content_base64"] ? Base64.strict_decode64(v["content_base64"]) : v["content"].b
        assert_equal [true, true, File, content, "".b, content.bytesize],
                     [h[:exists], h[:verify], h[:io], h[:read], h[:body], h[:size]], v["name"]
        assert_equal [want["body_file"]["size"], want["body_file"]["sha256"]], [h[:file].size, h[:file].sha256], v["name"]
      else
        assert_nil h[:file], v["name"]
        assert_equal [StringIO, want["body"].b, want["body"].b], [h[:io], h[:read], h[:body]], "#{v['name']}: inline"
      end
      assert_equal want, req, "#{v['name']}: the job's request as the handler got it"
    end
  end
end

class RackUploadTest < TempestTest::Case
  include SpoolDir

  def front_args = ["--spool-threshold", "64k", "--spool-dir", @spool]

  def test_rack_input_reads_a_spooled_5_mib_upload
    start_worker(Tempest::Rack.worker(Rack::Lint.new(SinatraApp), **worker_options))
    body = Random.new(5).bytes(5 << 20)
    res = @front.request("POST", "/sha256", body: body, headers: { "Content-Type" => "application/octet-stream" },
                                            timeout: 20)
    assert_equal "200", res.code, res.body
    got = JSON.parse(res.body)
    sha = Digest::SHA256.hexdigest(body)
    assert_equal({ "sha256" => sha, "read" => 5 << 20, "content_length" => 5 << 20, "io" => "File", "inline" => 0 },
                 got.except("body_file"))
    assert_equal [5 << 20, sha], got["body_file"].values_at("size", "sha256")
    assert_equal [], Dir[File.join(@spool, "upload-*")], "the front removed the file once answered"
  end
end
