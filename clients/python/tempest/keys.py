"""Where jobs live in Redis: the names of src/core/queue/keys.hpp (its comment says who writes
and reads each). If a name changes there, change it here."""

WORKERS = "tempest:workers"          # set of live reliable worker ids
CANCELLED = "tempest:cancelled"      # hash <respond_to>/<job_id> -> 1: jobs nobody waits for
FRONTS = "tempest:fronts"            # sorted set of announced answer endpoints, score = valid until (ms)
HISTORY_PREFIX = "tempest:history:"  # + channel: the Redis Stream of recorded events
BELL_KEEP = 1024                     # tokens kept on a bell
PRIORITIES = ("high", "normal", "low")


def lists(queue):
    """The priority lists, highest first: <queue>:high, <queue>, <queue>:low."""
    return [queue + ":high", queue, queue + ":low"]


def bell(queue):
    return queue + ":bell"


def dead(queue):
    return queue + ":dead"


def attempts(queue):
    return queue + ":attempts"


def heartbeat(worker_id):
    return "tempest:worker:" + worker_id


def processing(worker_id):
    return "tempest:processing:" + worker_id


def wake(worker_id):
    return "tempest:wake:" + worker_id


def cancel_field(respond_to, job_id):
    return f"{respond_to}/{job_id}"
