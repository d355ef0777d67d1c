# frozen_string_literal: true

# A worker that holds every job it gets (for the re-delivery test): it writes
# <dir>/started-<job id> and sleeps, until the test SIGKILLs it.
#   ruby -Ilib test/workers/hold_worker.rb DIR --queue Q --heartbeat-ttl MS --concurrency N
require "tempest"

dir = ARGV.shift
options, = Tempest::Options.parse(ARGV)
worker = Tempest.worker(**options) do
  on :url do |ctx, _env|
    File.write(File.join(dir, "started-#{ctx.job_id}"), ctx.method)
    sleep 60
    [200, {}, "first worker"]
  end
end
exit worker.run
