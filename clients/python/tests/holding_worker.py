"""A test worker process: /hold marks `held` in Redis and never answers (until killed); any
other path answers "served by <pid>". Takes the standard flags (tempest.worker.add_arguments)."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import redis  # noqa: E402

from tempest.worker import add_arguments, worker_from_args  # noqa: E402

args = add_arguments(argparse.ArgumentParser()).parse_args()
worker = worker_from_args(args)
marks = redis.Redis.from_url(args.redis)


@worker.on("url")
def handle(req):
    if req.path == "/hold":
        marks.rpush("held", f"{os.getpid()} {req.method}")
        time.sleep(60)
    return 200, {}, f"served by {os.getpid()}"


sys.exit(worker.run())
