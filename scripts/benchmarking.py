"""What the benchmark scripts share: tables (rich or Markdown), and code run in a fresh process (peak memory, timings)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable


def seconds_per_step(step: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    """Wall seconds of each of ``repeats`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    return seconds


def print_table(title: str, header: list[str], rows: list[list[str]], markdown: bool, width: int = 160) -> None:
    """A table with a left-aligned first column and right-aligned numbers, as Markdown or with rich."""
    if markdown:
        print(f"\n**{title}**\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for index, name in enumerate(header):
        table.add_column(name, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=width).print(table)


MEASURE = """
import gc
gc.collect()
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1])
before = status('VmRSS:')
open('/proc/self/clear_refs', 'w').write('5')  # resets the high-water mark VmHWM to the current RSS
{step}
print((status('VmHWM:') - before) / 1024)
"""


def last_line_in_fresh_process(code: str, timeout: float) -> str:
    """The last line that the Python ``code`` prints, run in a new process; RuntimeError with the
    last line of its error output if it fails."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        error = result.stderr.strip().splitlines() or [f"exit status {result.returncode}, no output"]
        raise RuntimeError(error[-1])
    return lines[-1]


def peak_memory_in_fresh_process(prepare: str, step: str, timeout: float = 900) -> float | None:
    """Extra resident MiB of running the code ``step`` after ``prepare`` (imports, warm-up, inputs),
    in a new Python process (Linux; None where not measurable)."""
    try:
        return float(last_line_in_fresh_process(prepare + MEASURE.format(step=step), timeout))
    except Exception:
        return None
