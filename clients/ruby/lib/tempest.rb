# frozen_string_literal: true

# Tempest workers in Ruby: see README.md (clients/ruby/) and docs/protocol.md in the repository.
#
#   require "tempest"
#   Tempest.worker(queue: "tempest") do
#     on :url do |ctx, env|
#       [200, { "Content-Type" => "text/plain" }, "Hello world!"]
#     end
#   end.run
require "redis"
require "tempest/version"
require "tempest/log"
require "tempest/keys"
require "tempest/scripts"
require "tempest/redis_url"
require "tempest/job"
require "tempest/answer"
require "tempest/answer_pool"
require "tempest/stream"
require "tempest/fanout"
require "tempest/sources"
require "tempest/heartbeat"
require "tempest/publisher"
require "tempest/worker"
require "tempest/options"

module Tempest
  # A Worker built with the DSL: the block runs with the worker as self (on :url do ... end).
  def self.worker(**options, &block)
    w = Worker.new(**options)
    w.instance_eval(&block) if block
    w
  end
end
