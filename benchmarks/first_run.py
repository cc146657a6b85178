"""What a new user waits for: start-up of the command line, `stats` on a loaded store,
and the embedded model's speed with the default threads while another process is busy.

    python benchmarks/first_run.py [--runs 3] [--quickstart]

Each figure is the median of ``--runs`` runs, quiet and with one core kept busy by a
spinning process (the case of a laptop or a shared CI box). ``--quickstart`` also times
`llmrec quickstart --no-evaluate` in a fresh home until the service answers its first
recommendation (minutes: it trains the default recommender).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
ML100K = Path(os.environ.get("LLMREC_SHARED_DATA", REPO.parent / "shared" / "data")) / "ml-100k"


@contextmanager
def busy_core(on: bool):
    """A process spinning on one core while the block runs (when ``on``)."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        yield
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def llmrec(*args: str, home: Path, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "llmrec", "--home", str(home), *args],
        check=True, capture_output=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    return time.perf_counter() - started


def tokens_per_second(threads: int | None, runs: int) -> float:
    """Generated tokens/s of the embedded model (``threads`` None: the default)."""
    from llmrec.config import LLMSettings
    from llmrec.llm import ChatRequest, EmbeddedLLM, Message

    chosen = threads or LLMSettings().threads
    requests = [ChatRequest((Message("user", f"Describe film number {i} in two sentences."),),
                            max_tokens=64) for i in range(6)]  # fmt: skip
    rates = []
    with EmbeddedLLM(threads=chosen) as llm:
        llm.generate(requests[:1])  # loads the model
        for run in range(runs):
            seeded = [ChatRequest(r.messages, max_tokens=64, seed=run + 1) for r in requests]
            started = time.perf_counter()
            answers = llm.generate(seeded)
            seconds = time.perf_counter() - started
            rates.append(sum(a.completion_tokens for a in answers) / seconds)
    return statistics.median(rates)


def quickstart_seconds(home: Path) -> float:
    """Seconds from the start of `llmrec quickstart` until its service answers."""
    port = 18_000 + os.getpid() % 1_000
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmrec", "--home", str(home), "quickstart",
         "--path", str(ML100K), "--no-evaluate", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    key = None
    try:
        for line in proc.stdout:
            if "API key:" in line:
                key = line.split("API key:")[1].strip()
                break
        while key is not None:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/users/1/recommendations",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                )
                if answer.status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                time.sleep(0.5)
        raise RuntimeError("quickstart printed no API key")
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quickstart", action="store_true")
    options = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        llmrec("datasets", "load", "movielens-100k", "--path", str(ML100K), home=home)
        for busy in (False, True):
            with busy_core(busy):
                helps = [llmrec("--help", home=home) for _ in range(options.runs)]
                stats = [llmrec("stats", home=home) for _ in range(options.runs)]
            state = "one core busy" if busy else "quiet"
            rows.append(("llmrec --help (s)", state, f"{statistics.median(helps):.2f}"))
            rows.append(("llmrec stats on ML-100K (s)", state, f"{statistics.median(stats):.2f}"))
        for busy in (False, True):
            with busy_core(busy):
                default = tokens_per_second(None, options.runs)
                single = tokens_per_second(1, options.runs)
            state = "one core busy" if busy else "quiet"
            rows.append(("embedded model, default threads (tokens/s)", state, f"{default:.1f}"))
            rows.append(("embedded model, 1 thread (tokens/s)", state, f"{single:.1f}"))
            rows.append(("default / 1 thread", state, f"{default / single:.2f}"))
        if options.quickstart:
            seconds = quickstart_seconds(Path(tmp) / "quickstart")
            rows.append(("quickstart to the first recommendation (s)", "quiet", f"{seconds:.0f}"))
    table = Table(title=f"first run (medians of {options.runs})")
    for column in ("measure", "machine", "value"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in rows:
        table.add_row(*row)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
