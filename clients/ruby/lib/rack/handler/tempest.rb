# frozen_string_literal: true

# `rackup -s tempest`: the Rack gateway (tempest/rack.rb) as a Rack 2 handler, so a rackup file
# is served as a Tempest worker with the usual tool:
#   rackup -s tempest -O queue=web [-O redis=URL] [-O concurrency=N] [-O mode=plain] config.ru
# (from the tree: rackup -Iclients/ruby/lib ...). Defaults: $TEMPEST_REDIS, $TEMPEST_QUEUE or
# "tempest". Host and Port mean nothing here: the worker connects out to Redis and the fronts.
require "tempest/rack"

module Rack
  module Handler
    module Tempest
      def self.run(app, **options)
        o = { redis: options[:redis] || ENV["TEMPEST_REDIS"], queue: options[:queue] || ENV["TEMPEST_QUEUE"] || "tempest",
              concurrency: options[:concurrency]&.to_i, mode: options[:mode]&.to_sym,
              answer_password: options[:answer_password] || ENV["TEMPEST_ANSWER_PASSWORD"] }
        o[:answer_allow] = options[:answer_allow].split(",") if options[:answer_allow].is_a?(String)
        worker = ::Tempest::Rack.worker(app, **o)
        yield worker if block_given?
        worker.run
      end

      def self.valid_options
        { "queue=NAME" => "queue to serve (default $TEMPEST_QUEUE or tempest)",
          "redis=URL" => "Redis URL (default $TEMPEST_REDIS)",
          "concurrency=N" => "lanes (threads), default 1",
          "mode=MODE" => "reliable (default) or plain",
          "answer_allow=HOST:PORT,..." => "endpoints answered though not announced",
          "answer_password=PW" => "the fronts' answer password" }
      end
    end

    register :tempest, Tempest
  end
end
