# frozen_string_literal: true

require "logger"

module Tempest
  # The library's logger: stderr, level from TEMPEST_LOG_LEVEL or --log-level (default warn).
  def self.logger
    @logger ||= Logger.new($stderr, progname: "tempest", level: ENV.fetch("TEMPEST_LOG_LEVEL", "warn"))
  end

  def self.logger=(l)
    @logger = l
  end
end
