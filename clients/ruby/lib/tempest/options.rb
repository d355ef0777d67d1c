# frozen_string_literal: true

require "optparse"

# The command-line options every Tempest worker program takes, named as the C++ workers' flags
# (protocol.md 2.1, 5.2): --redis URL (default $TEMPEST_REDIS), --queue NAME, --mode
# reliable|plain (--plain), --concurrency N, --batch N, --batch-time DURATION, --heartbeat-ttl
# DURATION, --max-attempts N, --answer-allow HOST:PORT,..., --answer-password PW (default
# $TEMPEST_ANSWER_PASSWORD), --answer-connect-timeout, --answer-timeout, --answer-reply-wait
# DURATION, --answer-buffer SIZE, --log-level LEVEL.
#
#   options, rest = Tempest::Options.parse(ARGV, "usage: hello.rb [options]")
#   Tempest::Worker.new(**options)
module Tempest
  module Options
    module_function

    # "500ms", "3s", "1m", "1h" -> seconds (Float); a bare number is milliseconds.
    def duration(text)
      m = text.to_s.strip.match(/\A(\d+(?:\.\d+)?)(ms|s|m|h)?\z/) or raise ArgumentError, "not a duration: #{text}"
      m[1].to_f * { nil => 0.001, "ms" => 0.001, "s" => 1, "m" => 60, "h" => 3600 }[m[2]]
    end

    # "64k", "8m", "1g", "1024" -> bytes
    def size(text)
      m = text.to_s.strip.downcase.match(/\A(\d+)([kmg])?\z/) or raise ArgumentError, "not a size: #{text}"
      m[1].to_i << { nil => 0, "k" => 10, "m" => 20, "g" => 30 }[m[2]]
    end

    def parse(argv, banner = "usage: #{File.basename($PROGRAM_NAME)} [options]")
      o = { redis: ENV["TEMPEST_REDIS"], queue: "tempest", answer_password: ENV["TEMPEST_ANSWER_PASSWORD"] }
      parser = OptionParser.new do |p|
        p.banner = banner
        p.on("--redis URL", "Redis URL (default $TEMPEST_REDIS, else redis://127.0.0.1:6379/0)") { |v| o[:redis] = v }
        p.on("--queue NAME", "queue to serve (default tempest)") { |v| o[:queue] = v }
        p.on("--mode MODE", %w[reliable plain], "reliable (default: at-least-once) or plain (BLMPOP)") do |v|
          o[:mode] = v.to_sym
        end
        p.on("--plain", "the same as --mode plain") { o[:mode] = :plain }
        p.on("--concurrency N", Integer, "lanes (threads) handling jobs (default 1: sequential)") do |v|
          o[:concurrency] = v
        end
        p.on("--batch N", Integer, "most jobs taken at once (default 128)") { |v| o[:batch] = v }
        p.on("--batch-time DURATION", "each take holds about this much work (default 1ms)") do |v|
          o[:batch_time] = duration(v)
        end
        p.on("--heartbeat-ttl DURATION", "reliable mode: heartbeat ttl (default 3s)") do |v|
          o[:heartbeat_ttl] = (duration(v) * 1000).round
        end
        p.on("--max-attempts N", Integer, "deaths before a job is dead-lettered (default 3)") { |v| o[:max_attempts] = v }
        p.on("--answer-allow LIST", "HOST:PORT,... answered though not announced (2012 fronts)") do |v|
          o[:answer_allow] = v.split(",").map(&:strip).reject(&:empty?)
        end
        p.on("--answer-password PW", "password of the fronts' answer endpoints") { |v| o[:answer_password] = v }
        p.on("--answer-connect-timeout DURATION", "an endpoint not connected within this is down 1s (500ms)") do |v|
          o[:answer_connect_timeout] = duration(v)
        end
        p.on("--answer-timeout DURATION", "an answer unacknowledged this long marks its endpoint down (5s)") do |v|
          o[:answer_timeout] = duration(v)
        end
        p.on("--answer-reply-wait DURATION", "longest a batch waits for one endpoint's replies (100ms)") do |v|
          o[:answer_reply_wait] = duration(v)
        end
        p.on("--answer-buffer SIZE", "most bytes of unacknowledged answers per endpoint (8m)") do |v|
          o[:answer_buffer] = size(v)
        end
        p.on("--log-level LEVEL", %w[debug info warn error], "debug, info, warn (default), error") do |v|
          Tempest.logger.level = v
        end
        p.on("-h", "--help", "this help") do
          puts p
          exit 0
        end
      end
      rest = parser.parse(argv)
      [o, rest]
    rescue OptionParser::ParseError, ArgumentError => e
      warn "#{File.basename($PROGRAM_NAME)}: #{e.message}"
      warn parser
      exit 2
    end
  end
end
