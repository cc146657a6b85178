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
    assert lines[0] == "items: started (200)"
    assert lines[1].startswith("items: 50 of 200 (25%), ") and "/s, about" in lines[1]
    assert lines[1].endswith("left")
    assert lines[-1].startswith("items: 200 done in ") and len(lines) == 3


def test_lines_are_throttled_and_stages_end_when_the_next_starts():
    console, out = _log()
    with progress_display(console=console, interval_s=3600) as progress:
        task = progress.add_task("fitting", total=None)
        for _ in range(1000):
            progress.advance(task, 1)  # within the interval: no line
        progress.update(task, description="ranking", total=10)
        progress.update(task, completed=10)
    assert out.getvalue().splitlines() == [
        "fitting: started",
        "fitting: 1,000 done in 0 s",
        "ranking: started",
        "ranking: 10 done in 0 s",
    ]


def test_bytes_are_shown_in_mebibytes():
    console, out = _log()
    with progress_display(console=console, in_bytes=True, interval_s=0) as progress:
        task = progress.add_task("events.csv", total=4 * 2**20)
        progress.update(task, completed=2**20)
    assert "1.0 MiB of 4.0 MiB (25%)" in out.getvalue()
