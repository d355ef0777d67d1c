#!/usr/bin/env ruby
# frozen_string_literal: true

# The hello worker: answers every HTTP request with "Hello world!" (like examples/hello_worker
# of the C++ library).
#
#   ruby -Iclients/ruby/lib clients/ruby/examples/hello.rb --redis redis://127.0.0.1:6379/0 --queue tempest
#   options: --mode reliable|plain, --concurrency N, --help
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "tempest"

options, = Tempest::Options.parse(ARGV, "usage: hello.rb [--redis URL] [--queue NAME] [--mode reliable|plain] [--concurrency N]")
worker = Tempest.worker(**options) do
  on :url do |_ctx, _env|
    # X-Worker: which language answered, in a mixed fleet (examples/angel.toml)
    [200, { "Content-Type" => "text/plain", "X-Worker" => "ruby" }, "Hello world!"]
  end
end
exit worker.run
