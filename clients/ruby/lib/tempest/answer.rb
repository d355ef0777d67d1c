# frozen_string_literal: true

require "json"
require "base64"
require "redis"

# Answers (protocol.md section 2) and where they may go (3.5).
#
#   Answer.encode_url(status, headers, body)  -> the JSON text of [status, headers, body]
#   targets = Answer::Targets.new(allow) ; targets.allowed?(respond_to, taken_at) { fetch from Redis }
#   the connections that carry answers: answer_pool.rb (Answer::Pool)
# If you change the answer layout, compare src/worker/job_codec.cpp and src/front/answer.cpp.
module Tempest
  module Answer
    TOKEN = /\A[!#$%&'*+\-.^_`|~0-9A-Za-z]+\z/.freeze
    BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/.freeze

    module_function

    # [status, headers, body] as the front takes it (2.2). status outside 200..599 -> 500;
    # headers: a Hash (or pairs) of name -> String, Numeric or Array (a field sent several times);
    # invalid names or values are dropped (logged); body: a String (UTF-8 text as is, other bytes
    # as {"base64": ...}), an Array or anything answering each (joined), or nil.
    def encode_url(status = 200, headers = {}, body = nil)
      JSON.generate([status_code(status), encode_headers(headers), encode_body(body)])
    end

    # A streamed answer's head [status, headers] (protocol.md 10.1), checked as encode_url's. A
    # Content-Length header is kept: the front then sends the body as is, that many bytes (10.3).
    def encode_head(status = 200, headers = {})
      JSON.generate([status_code(status), encode_headers(headers)])
    end

    def status_code(status)
      code = status.is_a?(String) ? Integer(status, 10, exception: false) : Integer(status, exception: false)
      return code if code&.between?(200, 599)
      Tempest.logger.warn("status #{status.inspect} is outside 200..599; sending 500")
      500
    end

    def encode_headers(headers)
      out = {}
      seen = {} # lower-case name -> the name written first
      (headers || {}).each do |name, value|
        name = name.to_s
        values = (value.is_a?(Array) ? value : [value]).map { |v| v.is_a?(Numeric) ? v.to_s : v }
        good = values.select { |v| v.is_a?(String) && valid_value?(v) }.map { |v| utf8(v) }
        if !TOKEN.match?(name) || good.size != values.size
          Tempest.logger.warn("dropped an invalid response header #{name.inspect}")
          next if !TOKEN.match?(name) || good.empty?
        end
        key = seen[name.downcase] ||= name
        prev = out[key]
        all = Array(prev) + good
        out[key] = all.size == 1 ? all[0] : all
      end
      out
    end

    def valid_value?(v)
      s = utf8(v)
      s.valid_encoding? && !BAD_VALUE.match?(s)
    end

    def encode_body(body)
      return "" if body.nil?
      unless body.is_a?(String)
        parts = +""
        body.each { |chunk| parts << chunk.to_s.b }
        body = parts
      end
      s = utf8(body)
      s.valid_encoding? ? s : { "base64" => Base64.strict_encode64(body) }
    end

    def utf8(s) = s.encoding == Encoding::UTF_8 ? s : s.dup.force_encoding(Encoding::UTF_8)

    # "host:port" or "[v6]:port" -> [host, port]
    def split_endpoint(respond_to)
      host, _, port = respond_to.rpartition(":")
      host = host[1..-2] if host.start_with?("[") && host.end_with?("]")
      raise ArgumentError, "respond_to #{respond_to.inspect} is not host:port" if host.empty? || port !~ /\A\d+\z/
      [host, port.to_i]
    end

    # Which respond_to a worker answers (3.5): announced now in tempest:fronts, or in the allow
    # list. The announced set is trusted for 1 s; a respond_to not in it is looked up again only
    # when the set was read before the job's batch was taken (one read per batch at most).
    # Mirrors src/core/answer/targets.cpp.
    class Targets
      CACHE_MAX_AGE = 1.0

      def initialize(allow = [])
        @allow = allow.to_a
        @announced = []
        @read_at = nil
      end

      # taken_at: monotonic time the job's batch was taken; fetch: a block returning the
      # announced endpoints (Targets.fetch) or nil when the read failed.
      def allowed?(respond_to, taken_at, now = clock)
        return true if @allow.include?(respond_to)
        v = verdict(respond_to, taken_at, now)
        if v == :ask
          got = yield
          @announced = got if got
          @read_at = now
          v = verdict(respond_to, taken_at, now)
        end
        v == :allowed
      end

      # TIME, then ZRANGEBYSCORE tempest:fronts <now ms> +inf LIMIT 0 4096.
      def self.fetch(redis)
        t = redis.call("TIME")
        now_ms = t[0].to_i * 1000 + t[1].to_i / 1000
        redis.call("ZRANGEBYSCORE", Keys::FRONTS, now_ms.to_s, "+inf", "LIMIT", "0", "4096")
      rescue Redis::CommandError
        nil
      end

      private

      def verdict(respond_to, taken_at, now)
        fresh = @read_at && now - @read_at < CACHE_MAX_AGE
        return(fresh ? :allowed : :ask) if @announced.include?(respond_to)
        return :ask if @read_at.nil? || @read_at < taken_at || !fresh
        :refused
      end

      def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
