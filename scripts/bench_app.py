"""Where the wall time of `python train.py` goes: start-up, imports, data, loggers, training,
plots, tracking, W&B.

    python scripts/bench_app.py [--runs 3] [-- extra train.py overrides]

Each run is a fresh `python train.py` process (the default job unless overrides are given)
writing into a temporary folder; the job's `summary.json` (its timings, in seconds) says how
long it spent building (and on the data), starting the loggers (W&B), fitting (and, inside
that, plotting and writing the database) and finishing the W&B run. Imports are timed in a
separate fresh process. Medians over the runs; min-max in brackets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = (
    "import time; started = time.perf_counter(); import hydra, lif.resolvers, lif.app; "
    "print(time.perf_counter() - started)"
)


def one_run(overrides: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={folder}/run", f"tracking.url=sqlite:///{folder}/lif.db",
             "trainer.enable_progress_bar=false", *overrides],
            cwd=folder, capture_output=True, text=True, timeout=900,
        )
        total = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"bench_app: train.py failed:\n{result.stderr[-3000:]}")
        timings = json.loads((Path(folder) / "run" / "summary.json").read_text())["timings"]
    parts = {name: timings[f"{name}_seconds"] for name in ("build", "data", "loggers", "fit", "plots", "database", "wandb_finish")}
    parts["total"] = total
    return parts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="processes to time (default: %(default)s)")
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = argv[argv.index("--") + 1 :] if "--" in argv else []
    arguments = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)

    imports = [float(subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True).stdout) for _ in range(arguments.runs)]
    runs = [one_run(overrides) for _ in range(arguments.runs)]
    column = {name: [run[name] for run in runs] for name in runs[0]}
    column["imports"] = imports
    training = [run["fit"] - run["plots"] - run["database"] for run in runs]
    accounted = [
        imp + run["build"] + run["loggers"] + run["fit"] + run["wandb_finish"] for imp, run in zip(imports, runs)
    ]
    rows = [
        ("total (process wall time)", column["total"]),
        ("imports (lif.app with torch, Lightning, Hydra, SQLModel)", imports),
        ("data (generate, encode, split)", column["data"]),
        ("build the rest (model, trainer, database connection)", [run["build"] - run["data"] for run in runs]),
        ("loggers (W&B run start)", column["loggers"]),
        ("training (fit without plots and database)", training),
        ("plots", column["plots"]),
        ("database writes", column["database"]),
        ("W&B finish", column["wandb_finish"]),
        ("interpreter, Hydra, the rest", [total - part for total, part in zip(column["total"], accounted)]),
    ]
    median_total = statistics.median(column["total"])
    print(f"python train.py {' '.join(overrides)}  ({arguments.runs} runs)")
    print(f"{'part':58s} {'median s':>9s} {'share':>6s}  min-max")
    for name, values in rows:
        median = statistics.median(values)
        print(f"{name:58s} {median:9.2f} {median / median_total:6.0%}  {min(values):.2f}-{max(values):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
