"""Background work for the editor, so that no model call ever runs on the GUI thread.

* :class:`RenderWorker` — one long-lived thread that renders W+ latents. It keeps only the NEWEST
  pending request (a "mailbox" of size one), so while a slider is dragged stale frames are dropped
  instead of queueing up; every result carries the request's sequence number and the GUI ignores
  results older than the last one it showed.
* :class:`Task` / :func:`run_task` — one-off jobs (open a photo, project, load a model) on the global
  thread pool, with progress, cancel and error signals.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from faceedit.errors import FaceEditError


class Cancelled(Exception):
    """Raised inside a task when the user pressed Cancel."""


class CancelToken:
    """A flag the GUI sets and a task polls (``check()`` raises :class:`Cancelled`)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def describe_error(exc: BaseException) -> str:
    """One readable line for a message box: our own errors as they are, others with their type."""
    if isinstance(exc, FaceEditError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@dataclass
class RenderRequest:
    """What to render: ``job(request)`` is called on the worker thread and returns the result."""

    seq: int
    kind: str  # "preview" or "full"
    job: Callable[[], Any]


class RenderWorker(QThread):
    """Renders the newest request only; emits ``rendered(seq, kind, result, seconds)`` or ``failed``."""

    rendered = Signal(int, str, object, float)
    failed = Signal(int, str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: RenderRequest | None = None
        self._stopping = False
        self.dropped = 0  # requests replaced before they were started (stale frames)

    def submit(self, request: RenderRequest) -> None:
        """Queue ``request``, replacing any request that has not started yet."""
        with self._cond:
            if self._pending is not None:
                self.dropped += 1
            self._pending = request
            self._cond.notify()

    def idle(self) -> bool:
        """True when nothing is pending (a running request may still finish)."""
        with self._cond:
            return self._pending is None

    def stop(self) -> None:
        """Ask the thread to finish and wait for it."""
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify()
        self.wait()

    def run(self) -> None:  # noqa: D102 - QThread entry point
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                request, self._pending = self._pending, None
            t0 = time.perf_counter()
            try:
                result = request.job()
            except Exception as e:  # shown to the user, never a crash
                self.failed.emit(request.seq, request.kind, describe_error(e))
                continue
            self.rendered.emit(request.seq, request.kind, result, time.perf_counter() - t0)


class TaskSignals(QObject):
    """Signals of one :class:`Task` (QRunnable is not a QObject)."""

    progress = Signal(float, str)  # fraction in [0, 1] (or -1 for "busy"), message
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()


class Task(QRunnable):
    """Run ``fn(progress, token)`` on the thread pool; ``progress(fraction, message)`` may be called often."""

    def __init__(self, fn: Callable[[Callable[[float, str], None], CancelToken], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.token = CancelToken()
        self.signals = TaskSignals()
        self.done = threading.Event()
        self.setAutoDelete(False)

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress and give the task a chance to be cancelled."""
        self.token.check()
        self.signals.progress.emit(float(fraction), message)

    def run(self) -> None:  # noqa: D102 - QRunnable entry point
        try:
            result = self.fn(self.progress, self.token)
            if self.token.cancelled:
                self._emit(self.signals.cancelled)
            else:
                self._emit(self.signals.finished, result)
        except Cancelled:
            self._emit(self.signals.cancelled)
        except Exception as e:
            if not isinstance(e, FaceEditError):
                traceback.print_exc()
            self._emit(self.signals.failed, describe_error(e))
        finally:
            self.done.set()

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window was closed while the task ran: nobody to tell
            pass


def run_task(
    fn: Callable[[Callable[[float, str], None], CancelToken], Any],
    on_finished: Callable[[Any], None],
    on_failed: Callable[[str], None],
    on_progress: Callable[[float, str], None] | None = None,
    on_cancelled: Callable[[], None] | None = None,
) -> Task:
    """Connect the callbacks (they run on the GUI thread), then start ``fn`` on the global thread pool."""
    task = Task(fn)
    task.signals.finished.connect(on_finished)
    task.signals.failed.connect(on_failed)
    if on_progress is not None:
        task.signals.progress.connect(on_progress)
    if on_cancelled is not None:
        task.signals.cancelled.connect(on_cancelled)
    QThreadPool.globalInstance().start(task)
    return task
