"""Ctrl-C during training: the first SIGINT asks the loop to stop at the next step boundary (it then
saves the training state and raises :class:`TrainingInterrupted`); a second one stops at once with a
plain :class:`KeyboardInterrupt` (the state file is written atomically, so the last complete state stays
intact).

The handler only sets a flag, so the step in progress (forward, backward, optimiser, EMA, a due
validation or checkpoint) always completes. Data-loader worker processes forked while the handler is
installed inherit it, so the SIGINT a terminal sends to the whole process group does not kill them before
the loop has stopped.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

__all__ = ["StopRequest", "TrainingInterrupted"]


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C after step ``step`` and saved its state to ``state``.

    A :class:`KeyboardInterrupt`, so callers that do not know it still treat it as Ctrl-C; ``srkit train``
    prints ``str(err)`` with the command that resumes the run and exits with status 130. ``main`` is false
    on the processes of a distributed job that do not write files (they print nothing).
    """

    def __init__(self, step: int, state: Path, run_dir: Path, *, main: bool = True) -> None:
        self.step = step
        self.state = Path(state)
        self.run_dir = Path(run_dir)
        self.main = main
        super().__init__(f"interrupted at step {step}: training state saved to {self.state}")


class StopRequest:
    """A flag set by the first SIGINT while :meth:`installed` is active (see the module docstring)."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """SIGINT sets :attr:`requested` inside the block (the previous handler is restored after it).

        Nothing is installed off the main thread (Python delivers signals only there) or when SIGINT is
        ignored (a job started with ``nohup`` or in the background of a non-interactive shell)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            yield self
            return
        signal.signal(signal.SIGINT, self._handle)
        try:
            yield self
        finally:  # a handler installed outside Python reads as None: fall back to the default
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
