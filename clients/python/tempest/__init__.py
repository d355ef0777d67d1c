"""Tempest worker client for Python: serve HTTP requests queued by a Tempest front from Redis
(docs/protocol.md). See README.md.

    from tempest import Worker
    worker = Worker(redis="redis://127.0.0.1:6379/0", queue="tempest")

    @worker.on("url")
    def hello(req):
        return 200, {"Content-Type": "text/plain"}, "Hello world!"

    worker.run()
"""

from .codec import Job, Request
from .publisher import Publisher
from .reliable import reap_dead_workers
from .worker import Answer, Worker

__all__ = ["Worker", "Answer", "Request", "Job", "Publisher", "reap_dead_workers"]
__version__ = "0.1.0"
