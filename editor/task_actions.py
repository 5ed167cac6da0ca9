"""The editor window's background jobs: start one off the GUI thread (model loading, detection, projection, ...),
show its progress, cancel it at once.  Mixed into :class:`editor.window.MainWindow`, whose status bar, progress bar,
cancel button and error box it uses."""
from __future__ import annotations

import time
from typing import Any, Callable

from .worker import describe_error, run_task


class TaskActions:
    """One background job at a time for :class:`~editor.window.MainWindow` (``_task`` is the running one)."""

    def busy(self) -> bool:
        """True while a task runs or a render is pending / not yet shown."""
        return self._task is not None or self._shown_seq < self._seq

    def _start(self, fn: Callable, on_done: Callable[[Any], None], label: str, cancellable: bool = True) -> None:
        if self._task is not None:
            self.show_error("Please wait: another job is running (or press Cancel).")
            return
        self._status(label)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.setVisible(cancellable)
        t0 = time.perf_counter()

        def finished(result: Any) -> None:
            self._end_task()
            self.timings[label.split()[0].lower()] = time.perf_counter() - t0
            try:
                on_done(result)
            except Exception as e:  # a bad result must not crash the app
                self.show_error(describe_error(e))

        def failed(message: str) -> None:
            self._end_task()
            self.show_error(message)

        def cancelled() -> None:
            self._end_task()
            self._status("cancelled")

        self._task = run_task(fn, finished, failed, self._on_progress, cancelled)
        self._update_actions()

    def _on_progress(self, fraction: float, message: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
        if message:
            self._status(message)

    def _end_task(self) -> None:
        self._task = None
        self.progress.hide()
        self.cancel_button.hide()
        self._update_actions()

    def cancel_task(self) -> None:
        """Cancel the running job: the UI is free at once; the job stops at its next check and its result
        is dropped."""
        if self._task is not None:
            task = self._task
            task.token.cancel()
            for signal in (task.signals.finished, task.signals.failed, task.signals.cancelled,
                           task.signals.progress):
                signal.disconnect()
            # the pool runs it to its next check: keep it alive until then
            self._abandoned = [t for t in self._abandoned if not t.done.is_set()] + [task]
            self._end_task()
            self._status("cancelled")
