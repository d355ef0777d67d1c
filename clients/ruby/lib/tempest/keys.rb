# frozen_string_literal: true

# Where jobs live in Redis: the same names as src/core/queue/keys.hpp (the C++ library, the
# front, and the other clients use them). If you change a name there, change it here too.
module Tempest
  module Keys
    WORKERS = "tempest:workers"      # set of live reliable worker ids
    CANCELLED = "tempest:cancelled"  # hash "<respond_to>/<job_id>" -> 1 (protocol.md 8.5)
    FRONTS = "tempest:fronts"        # zset respond_to -> valid until (Redis ms, 3.5)
    BELL_KEEP = 1024                 # tokens kept on a bell
    PRIORITIES = %w[high normal low].freeze

    module_function

    # <queue>:high, <queue>, <queue>:low: taken in that order (8.1).
    def lists(queue) = ["#{queue}:high", queue, "#{queue}:low"]
    def list(queue, priority)
      case priority
      when "high" then "#{queue}:high"
      when "low" then "#{queue}:low"
      else queue
      end
    end
    def bell(queue) = "#{queue}:bell"
    def dead(queue) = "#{queue}:dead"
    def attempts(queue) = "#{queue}:attempts"
    def heartbeat(id) = "tempest:worker:#{id}"
    def processing(id) = "tempest:processing:#{id}"
    def wake(id) = "tempest:wake:#{id}"
    def history(channel) = "tempest:history:#{channel}"
    def cancel_field(respond_to, job_id) = "#{respond_to}/#{job_id}"
  end
end
