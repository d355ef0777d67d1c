# frozen_string_literal: true

# `gem build tempest.gemspec` (or `rake build`): the gem carries the Lua scripts of the queue
# model, copied here from the repository's src/core/queue/scripts/ at build time into
# lib/tempest/scripts/ (git-ignored: never a copy in git). From the tree the library reads the
# repository's files directly (lib/tempest/scripts.rb).
require_relative "lib/tempest/version"
require "fileutils"

here = __dir__
repo_scripts = File.expand_path("../../src/core/queue/scripts", here)
packaged = File.join(here, "lib", "tempest", "scripts")
if File.file?(File.join(repo_scripts, "take.lua"))
  FileUtils.mkdir_p(packaged)
  Dir[File.join(repo_scripts, "*.lua")].each { |f| FileUtils.cp(f, packaged) }
end

Gem::Specification.new do |s|
  s.name = "tempest"
  s.version = Tempest::VERSION
  s.summary = "Tempest workers in Ruby: a worker DSL and a Rack gateway"
  s.description = "Workers for the Tempest web front (jobs on Redis lists, answers over RESP): " \
                  "reliable delivery with the front's own Lua scripts, priorities, deadlines, " \
                  "cancellation, publish with history, and a Rack gateway that serves any Rack app."
  s.authors = ["Tempest contributors"]
  s.license = "MIT"
  s.required_ruby_version = ">= 3.0"
  s.files = Dir.chdir(here) do
    Dir["lib/**/*.rb", "lib/tempest/scripts/*.lua", "bin/*", "examples/**/*.{rb,ru}", "README.md"]
  end
  s.bindir = "bin"
  s.executables = ["tempest-rack"]
  s.require_paths = ["lib"]
  s.add_runtime_dependency "redis", ">= 4.6", "< 6"
  s.add_runtime_dependency "json", ">= 2.0"
end
