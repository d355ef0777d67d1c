#!/usr/bin/python3
"""The smallest Python Tempest worker: answers "Hello world!" to every HTTP request (with
`X-Worker: python`, so that a mixed fleet on one queue shows who answered).

    python3 clients/python/examples/hello.py --redis redis://127.0.0.1:6379/0 --queue tempest

Flags: --redis URL (default $TEMPEST_REDIS), --queue NAME (default tempest), --mode
reliable|plain, --concurrency N, and the other standard worker flags (--help).
"""
import argparse
import os
import sys

import importlib.util

if importlib.util.find_spec("tempest") is None:  # not installed: straight from the tree (clients/python)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tempest.worker import add_arguments, worker_from_args  # noqa: E402


def main():
    args = add_arguments(argparse.ArgumentParser(description="Answers Hello world! to every request")).parse_args()
    worker = worker_from_args(args)

    @worker.on("url")
    def hello(req):
        # X-Worker: which language answered, in a mixed fleet (examples/angel.toml)
        return 200, {"Content-Type": "text/plain", "X-Worker": "python"}, "Hello world!"

    return worker.run()


if __name__ == "__main__":
    sys.exit(main())
