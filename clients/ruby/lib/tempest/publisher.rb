# frozen_string_literal: true

require "json"

# Publishing Server-Sent Events with history (protocol.md 7.4, 7.5; mirrors
# src/worker/publisher.cpp): history.lua records the message in the Redis Stream
# tempest:history:<channel> (trimmed to about history_count entries and history_age ms) and
# PUBLISHes [event or "message", data, id], in one EVALSHA. history_count 0: a bare PUBLISH of
# ["data"] or ["event", "data"] (live only, never replayed). Thread-safe (one connection, a mutex).
#
#   pub = Tempest::Publisher.new(ENV["TEMPEST_REDIS"])
#   pub.publish("news", "hello", event: "greeting")   # -> the stream id, "1733280000000-0"
module Tempest
  class Publisher
    CHANNEL = /\A[A-Za-z0-9_.:@-]{1,128}\z/.freeze

    def initialize(redis_url = ENV["TEMPEST_REDIS"], history_count: 1000, history_age: 3_600_000)
      raise ArgumentError, "history count is negative" if history_count.negative?
      raise ArgumentError, "history age is negative" if history_age.negative?
      @redis = RedisURL.client(redis_url, timeout: 5)
      @count = history_count
      @age = history_age
      @mutex = Mutex.new
    end

    def publish(channel, data, event: nil)
      channel = channel.to_s
      unless CHANNEL.match?(channel)
        raise ArgumentError, "channel #{channel[0, 140].inspect}: 1-128 characters of A-Za-z0-9 and _ . : @ - " \
                             "(the front's /sub/<channel> rule)"
      end
      data = utf8(data.to_s, "data is not valid UTF-8 (events carry text)")
      event = utf8(event.to_s, "the event name is not valid UTF-8")
      raise ArgumentError, "the event name contains a line break" if event.match?(/[\r\n]/)
      @mutex.synchronize do
        if @count.zero?
          @redis.call("PUBLISH", channel, JSON.generate(event.empty? ? [data] : [event, data]))
          return nil
        end
        Scripts.history.run(@redis, [Keys.history(channel)], [channel, event, data, @count.to_s, @age.to_s])
      end
    end

    def close = @mutex.synchronize { @redis.close }

    private

    def utf8(s, why)
      s = s.dup.force_encoding(Encoding::UTF_8) unless s.encoding == Encoding::UTF_8
      raise ArgumentError, why unless s.valid_encoding?
      s
    end
  end
end
