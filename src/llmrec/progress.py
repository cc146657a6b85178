"""Progress of long steps: Rich bars in a terminal, plain log lines everywhere else.

Rich draws nothing when its console is not a terminal (a log file, CI, ``nohup``), so a
40-minute enrichment printed not one line. :func:`progress_display` returns a Rich
``Progress`` in a terminal and otherwise a :class:`PlainProgress` with the same methods
the command line uses, which writes a line at most every ``interval_s`` while a task
runs (done, rate, time left) and one when it ends. A task over before its first line
is due prints nothing: a log reads the long steps, not every quick one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, ProgressColumn


def progress_display(
    *columns: ProgressColumn | str,
    console: Console,
    transient: bool = True,
    in_bytes: bool = False,
    interval_s: float = 10.0,
) -> Progress | PlainProgress:
    """A Rich progress display with ``columns`` in a terminal, else plain lines."""
    if console.is_terminal:
        return Progress(*columns, console=console, transient=transient)
    return PlainProgress(console, in_bytes=in_bytes, interval_s=interval_s)


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    started: float = field(default_factory=lambda: time.monotonic())
    last_line: float = field(default_factory=lambda: time.monotonic())
    shown: bool = False  # a line was printed: its end is printed too
    finished: bool = False


class PlainProgress:
    """Progress as plain lines (see the module docstring); the part of Rich's
    ``Progress`` API that llmrec's commands use."""

    def __init__(self, console: Console, in_bytes: bool = False, interval_s: float = 10.0):
        self.console = console
        self.in_bytes = in_bytes
        self.interval_s = interval_s
        self.tasks: dict[int, _Task] = {}
        self._next_id = 0

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task_id in list(self.tasks):
            self.remove_task(task_id)

    def add_task(self, description: str, total: float | None = None, **_: object) -> int:
        task_id, self._next_id = self._next_id, self._next_id + 1
        self.tasks[task_id] = _Task(description, total)
        return task_id

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(
        self,
        task_id: int,
        *,
        completed: float | None = None,
        total: float | None = None,
        advance: float | None = None,
        description: str | None = None,
        **_: object,
    ) -> None:
        task = self.tasks[task_id]
        if description is not None and description != task.description:
            self._finish(task)
            self.tasks[task_id] = task = _Task(description, total)
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = completed
        if advance is not None:
            task.completed += advance
        now = time.monotonic()
        if task.total is not None and task.completed >= task.total:
            self._finish(task)
        elif now - task.last_line >= self.interval_s:
            task.last_line, task.shown = now, True
            self._print(self._status(task, now))

    def remove_task(self, task_id: int) -> None:
        task = self.tasks.pop(task_id, None)
        if task is not None:
            self._finish(task)

    def _finish(self, task: _Task) -> None:
        if task.finished:
            return
        task.finished = True
        if not task.shown and time.monotonic() - task.started < self.interval_s:
            return
        seconds = time.monotonic() - task.started
        done = f"{self._amount(task.completed)} " if task.completed else ""
        self._print(f"{task.description}: {done}done in {_duration(seconds)}")

    def _status(self, task: _Task, now: float) -> str:
        elapsed = max(now - task.started, 1e-9)
        rate = task.completed / elapsed
        if task.total:
            share = f"{self._amount(task.completed)} of {self._amount(task.total)} " \
                    f"({task.completed / task.total:.0%})"  # fmt: skip
            left = (task.total - task.completed) / rate if rate > 0 else None
        else:
            share, left = self._amount(task.completed), None
        parts = [share, f"{self._amount(rate)}/s"]
        if left is not None:
            parts.append(f"about {_duration(left)} left")
        return f"{task.description}: " + ", ".join(parts)

    def _amount(self, value: float | None) -> str:
        if value is None:
            return "?"
        if self.in_bytes:
            return f"{value / 2**20:,.1f} MiB"
        return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
