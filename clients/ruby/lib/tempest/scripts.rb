# frozen_string_literal: true

require "digest/sha1"

# The Lua scripts of the queue model, read from the very files the C++ library embeds
# (src/core/queue/scripts/*.lua; each file's header lists its KEYS and ARGV). Never a copy in
# this gem's sources: from the tree they are read from the repository; an installed gem holds
# the copy `gem build` made (tempest.gemspec copies them into lib/tempest/scripts/, which git
# ignores); TEMPEST_SCRIPTS_DIR overrides both.
#
#   Tempest::Scripts.take.run(redis, keys, argv)   # EVALSHA; SCRIPT LOAD and again on NOSCRIPT
module Tempest
  module Scripts
    NAMES = %w[take goodbye reap retry history].freeze
    PACKAGED = File.expand_path("scripts", __dir__) # lib/tempest/scripts (an installed gem)

    # One script: its text and sha. Safe to share between threads (EVALSHA needs no state).
    class Script
      attr_reader :name, :source, :sha

      def initialize(name, source)
        @name = name
        @source = source
        @sha = Digest::SHA1.hexdigest(source)
      end

      # EVALSHA on redis (a Redis client); on NOSCRIPT (never loaded, SCRIPT FLUSH, a new Redis)
      # SCRIPT LOAD and EVALSHA again.
      def run(redis, keys, argv)
        redis.evalsha(@sha, keys: keys, argv: argv)
      rescue Redis::CommandError => e
        raise unless e.message.start_with?("NOSCRIPT")
        load(redis)
        redis.evalsha(@sha, keys: keys, argv: argv)
      end

      def load(redis)
        got = redis.script(:load, @source)
        raise "SCRIPT LOAD of #{@name}.lua returned #{got}, not #{@sha}" unless got == @sha
      end

      # The EVALSHA arguments, for pipelines.
      def evalsha_args(keys, argv) = ["evalsha", @sha, keys.size, *keys, *argv]
    end

    @mutex = Mutex.new
    @scripts = {}

    module_function

    # The directory the scripts are read from (see the top of the file); raises when none holds them.
    def dir
      env = ENV["TEMPEST_SCRIPTS_DIR"]
      return env if env && !env.empty?
      d = File.expand_path(__dir__)
      loop do
        candidate = File.join(d, "src", "core", "queue", "scripts")
        return candidate if File.file?(File.join(candidate, "take.lua"))
        parent = File.dirname(d)
        break if parent == d
        d = parent
      end
      return PACKAGED if File.file?(File.join(PACKAGED, "take.lua"))
      raise "Tempest: cannot find the Lua scripts (src/core/queue/scripts/take.lua above #{__dir__}, " \
            "or #{PACKAGED}); set TEMPEST_SCRIPTS_DIR"
    end

    def get(name)
      @mutex.synchronize do
        @scripts[name] ||= Script.new(name, File.binread(File.join(dir, "#{name}.lua")))
      end
    end

    NAMES.each { |n| define_singleton_method(n) { get(n) } }
  end
end
