"""Progress shows as Rich bars in a terminal and as plain lines in logs."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress, TextColumn

from llmrec.progress import PlainProgress, progress_display


def _log() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_a_terminal_gets_rich_bars_and_a_log_gets_plain_lines():
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(progress_display(TextColumn("x"), console=terminal), Progress)
    console, _ = _log()
    assert isinstance(progress_display(TextColumn("x"), console=console), PlainProgress)


def test_plain_lines_say_what_is_done_how_fast_and_how_long_is_left():
    console, out = _log()
    with progress_display(console=console, interval_s=0) as progress:
        task = progress.add_task("items", total=200)
        progress.advance(task, 50)
        progress.advance(task, 150)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("items: 50 of 200 (25%), ") and "/s, about" in lines[0]
    assert lines[0].endswith("left")
    assert lines[-1].startswith("items: 200 done in ") and len(lines) == 2


def test_a_quick_step_prints_nothing_and_a_long_one_ends_with_a_line(monkeypatch):
    console, out = _log()
    clock = [0.0]
    monkeypatch.setattr("llmrec.progress.time.monotonic", lambda: clock[0])
    with progress_display(console=console, interval_s=10) as progress:
        task = progress.add_task("fitting", total=None)
        for _ in range(1000):
            progress.advance(task, 1)  # within the interval: no line
        progress.update(task, description="ranking", total=10)
        clock[0] = 25.0
        progress.update(task, completed=4)
        progress.update(task, completed=10)
    assert out.getvalue().splitlines() == [
        "ranking: 4 of 10 (40%), 0.2/s, about 38 s left",
        "ranking: 10 done in 25 s",
    ]


def test_bytes_are_shown_in_mebibytes():
    console, out = _log()
    with progress_display(console=console, in_bytes=True, interval_s=0) as progress:
        task = progress.add_task("events.csv", total=4 * 2**20)
        progress.update(task, completed=2**20)
    assert "1.0 MiB of 4.0 MiB (25%)" in out.getvalue()
