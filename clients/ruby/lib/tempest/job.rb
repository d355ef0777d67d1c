# frozen_string_literal: true

require "json"
require "base64"
require "uri"

# Jobs as the front pushes them (protocol.md section 1) and as the 2012 front did
# (ORIGINAL-PROTOCOL.md): [action, args, respond_to, job_id]; a "url" job's args[0] is the
# request object. Tempest::Job.decode parses one; Tempest::Context is what a handler gets.
# If you change a field here, compare src/worker/job_codec.cpp (the C++ decoder).
module Tempest
  class BadJob < StandardError; end

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
  #     [200, {"Content-Type" => "text/plain"}, "Hello world!"]   # or ctx.answer(200, {...}, "...")
  #   end
  #
  # env is the request object of the job as parsed JSON (a Hash), for what ctx does not name.
  class Context
    attr_reader :job, :method, :url, :path, :query, :headers, :body, :remote_addr, :http_version,
                :priority, :deadline, :retry

    def initialize(job, lane)
      @job = job
      @lane = lane
      @answers = 0
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

    # True when nobody waits any more: the deadline passed, or the front cancelled the job (the
    # client went away; one Redis round trip: call it between steps of long work).
    def cancelled?
      return true if @deadline && Tempest.now_ms > @deadline
      return false unless @job.respond_to
      @lane.cancelled?(@job)
    end

    # Answers the job now. For "url": answer(status, headers = {}, body = ""); for other actions:
    # answer(value), sent as JSON. The first answer of a url job completes the HTTP response;
    # later ones are refused by the front (2.4).
    def answer(*value)
      @answers += 1
      json = @job.url? ? Answer.encode_url(*value) : JSON.generate(value.size == 1 ? value[0] : value)
      @lane.send_answer(@job, json)
    end

    # Sends json (the answer's JSON text, as is: nothing checked) as this job's answer. false
    # when it was dropped (its front is down); a -ERR reply is logged and counted
    # (worker.stats[:answers_refused]).
    def answer_json(json)
      @answers += 1
      @lane.send_answer(@job, json)
    end

    def answered? = @answers.positive?

    # Records and publishes a Server-Sent Event (Worker#publish).
    def publish(channel, data, event: nil) = @lane.worker.publish(channel, data, event: event)
  end
end
