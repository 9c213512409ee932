"""Write-behind for the record: a received body is filed on a thread of its own, off pip's path.

Filing a body (the store lock, the blob's rename, the entry's write: about a millisecond, nearly
all of it in file-system calls that release the GIL) used to run on pip's thread, right when pip
read the body's last byte. It now runs on one worker thread while pip goes on parsing, resolving
and unpacking. At most one body waits at a time, and whatever reads the store waits for it first
(:meth:`Committer.wait`: every public read of :class:`~.writing.Store`, and the start of the next
body), so everything that reads the store sees it as if the body had been filed in place.

A process that ends normally files the waiting body before it exits (atexit). One that is
killed outright (SIGKILL) loses at most that last body's entry, never leaves half of one: until
its rename, the body is a temporary file that nothing reads (see :mod:`.layout`).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from typing import Callable

logger = logging.getLogger(__name__)

Job = Callable[[], None]


class Committer:
    """One worker thread, started on the first job, and a queue of at most one job."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Job] = queue.Queue(maxsize=1)
        self._submitting = threading.Lock()  # serve's threads submit concurrently
        self._worker: threading.Thread | None = None

    def submit(self, job: Job) -> None:
        """Run ``job`` on the worker, once the job before it is done."""
        with self._submitting:
            self.wait()
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="pip-ff-committer", daemon=True
                )
                self._worker.start()
                atexit.register(self.wait)  # a normal exit files the last body
            self._jobs.put(job)

    def wait(self) -> None:
        """Return once no job is waiting or running (at once when none is)."""
        if threading.current_thread() is not self._worker:  # a job never waits for itself
            self._jobs.join()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception as exc:  # a job logs its own failures; this is a last resort
                logger.warning("pip-ff: not recording a body: %r", exc)
            finally:
                self._jobs.task_done()
