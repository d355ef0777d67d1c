# frozen_string_literal: true

require "json"
require "base64"
require "uri"
require "stringio"

# Jobs as the front pushes them (protocol.md section 1) and as the 2012 front did
# (ORIGINAL-PROTOCOL.md): [action, args, respond_to, job_id]; a "url" job's args[0] is the
# request object. Tempest::Job.decode parses one; Tempest::Context is what a handler gets.
# If you change a field here, compare src/worker/job_codec.cpp (the C++ decoder).
module Tempest
  class BadJob < StandardError; end

  # What a front's spool names its files (protocol.md 11.3): an absolute path ending in this.
  SPOOL_PATH = %r{\A/(?:.*/)?upload-[0-9a-f]{32}\z}m

  Job = Struct.new(:action, :args, :respond_to, :id, :payload) do
    # Parses a job's JSON text; raises BadJob with what is wrong.
    def self.decode(payload)
      v = begin
        JSON.parse(payload)
      rescue JSON::ParserError => e
        raise BadJob, "not JSON (#{e.message[0, 60]})"
      end
      raise BadJob, "a job is a JSON array [action, args, respond_to, job_id]" unless v.is_a?(Array) && v.size >= 4
      action, args, respond_to, id = v
      raise BadJob, "the action (item 0) is not a non-empty string" unless action.is_a?(String) && !action.empty?
      raise BadJob, "the args (item 1) are not an array" unless args.is_a?(Array)
      raise BadJob, "respond_to (item 2) is neither a string nor null" unless respond_to.nil? || respond_to.is_a?(String)
      id = id.to_i if id.is_a?(Float) && id == id.floor && id.abs <= 2**53
      raise BadJob, "the job id (item 3) is not an integer" unless id.is_a?(Integer)
      respond_to = nil if respond_to == ""
      new(action, args, respond_to, id, payload)
    end

    def url? = action == "url"
    def request = (args[0].is_a?(Hash) ? args[0] : nil)

    # The "url" request's deadline (unix ms) has passed: nobody waits any more (8.5).
    def expired?(now_ms = Tempest.now_ms)
      d = url? && request && request["deadline"]
      d.is_a?(Numeric) && d < now_ms
    end

    def cancel_field = Keys.cancel_field(respond_to, id)
  end

  def self.now_ms = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)

  # What a handler gets: the job's request (for "url" jobs) and the ways to answer it.
  #
  #   worker.on :url do |ctx, env|
  #     ctx.method; ctx.path; ctx.query; ctx.params["q"]; ctx.header("content-type"); ctx.body
  #     ctx.remote_addr; ctx.priority; ctx.deadline; ctx.retry; ctx.cancelled?
  #     ctx.body_file (a spooled upload: path, size, sha256); ctx.body_io (reads it, or the inline body)
  #     [200, {"Content-Type" => "text/plain"}, "Hello world!"]   # or ctx.answer(200, {...}, "...")
  #     # or streamed: out = ctx.stream(200, {...}); out.write("..."); (the return ends it)
  #   end
  #
  # env is the request object of the job as parsed JSON (a Hash), for what ctx does not name.
  class Context
    attr_reader :job, :method, :url, :path, :query, :headers, :body, :remote_addr, :http_version,
                :priority, :deadline, :retry, :body_file

    def initialize(job, lane)
      @job = job
      @lane = lane
      @answers = 0
      @stream = nil
      @kept = nil
      @body_io = nil
      r = job.url? && job.request
      return unless r

      @method = r["method"].to_s
      @url = r["url"].to_s
      # The 2012 front sent only method, url, headers and body: path and query come from url.
      path, query = @url.split("?", 2)
      @path = r["path"].is_a?(String) ? r["path"] : path.to_s
      @query = r["query"].is_a?(String) ? r["query"] : query.to_s
      @headers = {}
      (r["headers"].is_a?(Hash) ? r["headers"] : {}).each { |k, v| @headers[k.to_s.downcase] = v.to_s if v.is_a?(String) }
      body = r["body"]
      @body = if !body.is_a?(String) then nil
              elsif r["body_encoding"] == "base64" then Base64.strict_decode64(body)
              else body.b
              end
      # A body the front spooled to a file (protocol.md 11.2): the inline body is then empty.
      f = r["body_file"]
      if f
        # Only a spool file's path (protocol.md 11.2): a forged job must not make us read another file.
        unless f.is_a?(Hash) && f["path"].is_a?(String) && SPOOL_PATH.match?(f["path"]) &&
               f["path"].split("/").none? { |s| s == "." || s == ".." } && f["size"].is_a?(Integer) && f["size"] >= 0
          raise BadJob, "body_file is not a front's spool file {path: /.../upload-<32 hex>, size, sha256}"
        end
        @body_file = BodyFile.new(f["path"], f["size"].to_i, f["sha256"].to_s).freeze
        @body ||= +"".b
      end
      @remote_addr = r["remote_addr"]
      @http_version = r["http_version"] || "1.1"
      @priority = r["priority"] || "normal"
      @deadline = r["deadline"].is_a?(Numeric) ? r["deadline"] : nil
      @retry = r["retry"]
    end

    def action = @job.action
    def args = @job.args
    def job_id = @job.id
    def respond_to_endpoint = @job.respond_to
    def env = @job.request
    def header(name) = @headers && @headers[name.to_s.downcase]

    # The query parameters, percent-decoded ('+' is a space), the first of each name.
    def params
      @params ||= URI.decode_www_form(@query.to_s).each_with_object({}) { |(k, v), h| h[k] = v unless h.key?(k) }
    rescue ArgumentError
      {}
    end

    # The body's size in bytes: the spooled file's, or the inline body's (0 without a body).
    def body_size = @body_file ? @body_file.size : @body.to_s.bytesize

    # An IO reading the body without loading it whole: the spooled file (a File, binary), or a
    # StringIO over the inline body (empty without one). Opened on first use, closed when the
    # handler returns.
    def body_io
      @body_io ||= if @body_file
                     @body_file.open
                   else
                     StringIO.new(@body || +"".b).tap { |io| io.set_encoding(Encoding::BINARY) }
                   end
    end

    # True when nobody waits any more: the deadline passed, or the front cancelled the job (the
    # client went away; one Redis round trip: call it between steps of long work). Also true
    # once this job's stream failed (a write returned false).
    def cancelled?
      return true if @stream && !@stream.ok?
      return true if @deadline && Tempest.now_ms > @deadline
      return false unless @job.respond_to
      @lane.cancelled?(@job)
    end

    # Answers the job now. For "url": answer(status, headers = {}, body = ""); for other actions:
    # answer(value), sent as JSON. The first answer of a url job completes the HTTP response;
    # later ones are refused by the front (2.4).
    def answer(*value)
      return refuse_answer if @stream || @kept
      @answers += 1
      json = @job.url? ? Answer.encode_url(*value) : JSON.generate(value.size == 1 ? value[0] : value)
      @lane.send_answer(@job, json)
    end

    # Sends json (the answer's JSON text, as is: nothing checked) as this job's answer. false
    # when it was dropped (its front is down); a -ERR reply is logged and counted
    # (worker.stats[:answers_refused]).
    def answer_json(json)
      return refuse_answer if @stream || @kept
      @answers += 1
      @lane.send_answer(@job, json)
    end

    # True once the job was answered, streamed or kept: the handler's return value is then not
    # sent.
    def answered? = @answers.positive? || !@stream.nil? || !@kept.nil?

    # Streams the response (protocol.md 10, 12.1): sends the head (status, headers; body, when
    # given, as the first bytes) now and returns the Tempest::Stream for the rest: write(bytes)
    # -> true/false, <<, end (close), ok?, error, keep. The handler's return ends it. A Content-
    # Length header is kept: exactly that many bytes must follow (10.3). Later calls return the
    # same stream. A job already answered, or without respond_to, gets a failed stream.
    def stream(status = 200, headers = {}, body = nil)
      return @stream if @stream
      refused = "the job was already answered (or kept): no stream" if @answers.positive? || @kept
      @stream = Stream.new(@lane, @job, status, headers, body, refused: refused)
    end

    def streaming? = !@stream.nil?

    # Keeps the job past the handler (12.2): with a stream, Stream#keep; without, the job stays
    # waiting for an answer from Worker#answer_many (or its --timeout: 504). Returns the
    # Tempest::StreamRef, nil when there is nobody to answer (no respond_to, a failed stream).
    def keep
      return @stream.keep if @stream
      return nil unless @job.respond_to && @answers.zero?
      @kept = StreamRef.new(@job.respond_to, @job.id).freeze
    end

    # Worker#chunk_many, #end_many, #answer_many (Tempest::Fanout): the refs that did not take it.
    def chunk_many(refs, bytes) = @lane.worker.chunk_many(refs, bytes)
    def end_many(refs) = @lane.worker.end_many(refs)
    def answer_many(refs, *answer) = @lane.worker.answer_many(refs, *answer)

    # From the lane when the handler returned (failed: it raised): ends the stream unless it
    # was ended or kept (or the handler failed), and closes body_io.
    def handler_returned(failed = false)
      @stream&.handler_returned(failed)
      @body_io&.close
    rescue IOError
      nil
    end

    def refuse_answer
      Tempest.logger.warn("[j#{@job.id}] answer after stream or keep: not sent (a job is answered once)")
      false
    end
    private :refuse_answer

    # Records and publishes a Server-Sent Event (Worker#publish).
    def publish(channel, data, event: nil) = @lane.worker.publish(channel, data, event: event)
  end
end
