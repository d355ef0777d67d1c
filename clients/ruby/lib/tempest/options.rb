# frozen_string_literal: true

require "optparse"

# The command-line options every Tempest worker program takes (protocol.md 5.2, like the C++
# workers): --redis URL (default $TEMPEST_REDIS), --queue NAME, --mode reliable|plain,
# --concurrency N, --heartbeat-ttl MS, --max-attempts N, --batch N, --answer-allow HOST:PORT,...,
# --answer-password PW (default $TEMPEST_ANSWER_PASSWORD), --log-level LEVEL.
#
#   options, rest = Tempest::Options.parse(ARGV, "usage: hello.rb [options]")
#   Tempest::Worker.new(**options)
module Tempest
  module Options
    module_function

    def parse(argv, banner = "usage: #{File.basename($PROGRAM_NAME)} [options]")
      o = { redis: ENV["TEMPEST_REDIS"], queue: "tempest", answer_password: ENV["TEMPEST_ANSWER_PASSWORD"] }
      parser = OptionParser.new do |p|
        p.banner = banner
        p.on("--redis URL", "Redis URL (default $TEMPEST_REDIS, else redis://127.0.0.1:6379/0)") { |v| o[:redis] = v }
        p.on("--queue NAME", "queue to serve (default tempest)") { |v| o[:queue] = v }
        p.on("--mode MODE", %w[reliable plain], "reliable (default: at-least-once) or plain (BLMPOP)") do |v|
          o[:mode] = v.to_sym
        end
        p.on("--concurrency N", Integer, "lanes (threads) handling jobs (default 1: sequential)") do |v|
          o[:concurrency] = v
        end
        p.on("--heartbeat-ttl MS", Integer, "reliable mode: heartbeat ttl in ms (default 3000)") { |v| o[:heartbeat_ttl] = v }
        p.on("--max-attempts N", Integer, "deaths before a job is dead-lettered (default 3)") { |v| o[:max_attempts] = v }
        p.on("--batch N", Integer, "most jobs taken at once (default 16)") { |v| o[:batch] = v }
        p.on("--answer-allow LIST", "HOST:PORT,... answered though not announced (2012 fronts)") do |v|
          o[:answer_allow] = v.split(",").map(&:strip).reject(&:empty?)
        end
        p.on("--answer-password PW", "password of the fronts' answer endpoints") { |v| o[:answer_password] = v }
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
    rescue OptionParser::ParseError => e
      warn "#{File.basename($PROGRAM_NAME)}: #{e.message}"
      warn parser
      exit 2
    end
  end
end
