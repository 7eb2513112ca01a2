"""Read the tracking database: experiments, their trials, one trial's epoch metrics.

    python -m lif.runs                          # every experiment
    python -m lif.runs trials [EXPERIMENT]      # its trials (default: the newest experiment)
    python -m lif.runs show TRIAL               # one trial: config overrides, error, artifacts
    python -m lif.runs export TRIAL [--format csv|json] [--output FILE]
    python -m lif.runs compare [EXPERIMENT] [--by model._target_] [--metrics test/acc,...]   # mean ± sd over seeds

``--url`` selects the database (default ``$LIF_TRACKING_URL`` or ``sqlite:///outputs/lif.db``).
The tool reads through a read-only connection. It writes one thing: a ``running`` trial whose
job has been silent for longer than its grace period (killed, its machine gone) is shown as
``crashed`` and stored so, when the database lets it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func
from sqlmodel import Session, select

from lif.tracking.database import connect_read_only, default_url
from lif.tracking.store import TrialStore, is_crashed
from lif.tracking.tables import Artifact, EpochMetric, Experiment, Trial, now

NOT_PARAMETERS = ("paths", "hydra", "logger", "tracking", "experiment_name", "experiment_description")
STATUS_STYLES = {"completed": "green", "running": "yellow", "failed": "red", "interrupted": "magenta", "crashed": "red"}


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{'a.b': 1} from {'a': {'b': 1}}; lists stay whole values."""
    if not isinstance(config, dict):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def differing_parameters(trials: Sequence[Trial]) -> list[str]:
    """Config keys whose values differ between the trials (paths and logging settings left out).

    Keys that always hold the same values as a shorter key (``data.seed`` interpolating
    ``seed``) are left out too.
    """
    flat = [flatten(trial.config) for trial in trials]
    keys = sorted(set().union(*flat), key=lambda key: (len(key), key)) if flat else []
    columns: dict[tuple[str, ...], str] = {}
    for key in keys:
        if key.split(".")[0] in NOT_PARAMETERS:
            continue
        values = tuple(json.dumps(config.get(key), sort_keys=True, default=str) for config in flat)
        per_trial_paths = any(trial.output_dir and trial.output_dir in value for trial, value in zip(trials, values))
        if len(set(values)) > 1 and not per_trial_paths:
            columns.setdefault(values, key)
    return sorted(columns.values())


def best_trial(trials: Iterable[Trial], mode: str = "max") -> Trial | None:
    scored = [trial for trial in trials if trial.best_value is not None and trial.status == "completed"]
    if not scored:
        return None
    return (max if mode == "max" else min)(scored, key=lambda trial: trial.best_value)


def duration(trial: Trial) -> str:
    if trial.ended_at is None or trial.started_at is None:
        return "-"
    seconds = (trial.ended_at - trial.started_at).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def trial_header(trials: Sequence[Trial], parameters: list[str]) -> list[str]:
    """Column names of :func:`trial_cells` for these trials."""
    metric = next((trial.optimized_metric for trial in trials if trial.optimized_metric), "metric")
    return ["trial", "job", "status", *parameters, f"{metric} final", "best", "epochs", "duration", "W&B run"]


def trial_cells(trial: Trial, parameters: list[str]) -> list[str]:
    """One trial as text cells: id, job, status, the given parameters, results, duration, W&B run."""
    flat = flatten(trial.config)
    return [
        str(trial.id), short(trial.job_number), trial.status, *(short(flat.get(key)) for key in parameters),
        short(trial.final_value), short(trial.best_value), short(trial.epochs), duration(trial), trial.wandb_run_id or "-",
    ]


def mode_of(trial: Trial) -> str:
    """The optimisation direction recorded in the trial's config (max unless it says min)."""
    return str((trial.config.get("tracking") or {}).get("mode", "max"))


def as_seen(trials: Iterable[Trial]) -> list[Trial]:
    """The trials with those crashed by now shown as ``crashed`` (not written: for display)."""
    at = now()
    trials = list(trials)
    for trial in trials:
        if is_crashed(trial, at):
            trial.status = "crashed"
    return trials


class Runs:
    """Queries over one tracking database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = connect_read_only(url)
        self.store_crashed()

    def store_crashed(self) -> None:
        """Store silent running trials as crashed (shown so anyway when the database is read-only)."""
        with Session(self.engine) as session:
            running = session.exec(select(Trial).where(Trial.status == "running")).all()
        if any(is_crashed(trial, now()) for trial in running):
            try:
                TrialStore(self.url).mark_crashed()
            except Exception:  # noqa: BLE001 (a read-only file or role: the tables still show them crashed)
                pass

    def experiments(self) -> list[tuple[Experiment, list[Trial]]]:
        with Session(self.engine) as session:
            experiments = session.exec(select(Experiment).order_by(Experiment.created_at)).all()
            trials = as_seen(session.exec(select(Trial).order_by(Trial.id)).all())
        by_experiment: dict[int, list[Trial]] = {experiment.id: [] for experiment in experiments}
        for trial in trials:
            by_experiment.setdefault(trial.experiment_id, []).append(trial)
        return [(experiment, by_experiment[experiment.id]) for experiment in experiments]

    def experiment(self, name: str | None) -> tuple[Experiment, list[Trial]]:
        with Session(self.engine) as session:
            query = select(Experiment)
            query = query.where(Experiment.name == name) if name else query.order_by(Experiment.updated_at.desc())
            experiment = session.exec(query).first()
            if experiment is None:
                raise LookupError(f"no experiment named {name!r}" if name else "the database holds no experiment")
            trials = as_seen(session.exec(select(Trial).where(Trial.experiment_id == experiment.id).order_by(Trial.id)).all())
        return experiment, trials

    def trial(self, trial_id: int) -> tuple[Trial, Experiment, list[Artifact]]:
        with Session(self.engine) as session:
            trial = session.get(Trial, trial_id)
            if trial is None:
                raise LookupError(f"no trial with id {trial_id}")
            (trial,) = as_seen([trial])
            experiment = session.get(Experiment, trial.experiment_id)
            artifacts = session.exec(select(Artifact).where(Artifact.trial_id == trial_id).order_by(Artifact.id)).all()
        return trial, experiment, list(artifacts)

    def epoch_metrics(self, trial_id: int) -> list[dict[str, Any]]:
        """One dict per epoch: {'epoch': 0, 'train/acc': 0.5, ...}."""
        self.trial(trial_id)  # raises for an unknown id
        with Session(self.engine) as session:
            rows = session.exec(
                select(EpochMetric).where(EpochMetric.trial_id == trial_id).order_by(EpochMetric.epoch, EpochMetric.id)
            ).all()
        epochs: dict[int, dict[str, Any]] = {}
        for row in rows:
            epochs.setdefault(row.epoch, {"epoch": row.epoch})[row.name] = row.value
        return [epochs[epoch] for epoch in sorted(epochs)]

    def metric_count(self, trial_id: int) -> int:
        with Session(self.engine) as session:
            return session.exec(select(func.count()).select_from(EpochMetric).where(EpochMetric.trial_id == trial_id)).one()


def experiments_table(runs: Runs) -> Table:
    table = Table(title=f"experiments in {runs.url}", title_justify="left")
    for column in ("id", "name", "description", "Optuna study", "trials", "status", "best", "updated"):
        table.add_column(column, overflow="fold")
    for experiment, trials in runs.experiments():
        counts = {status: sum(trial.status == status for trial in trials) for status in STATUS_STYLES}
        status = " ".join(
            f"[{STATUS_STYLES[name]}]{count} {name}[/]" for name, count in counts.items() if count
        )
        best = best_trial(trials, mode_of(trials[0]) if trials else "max")
        best_text = f"{best.optimized_metric} {short(best.best_value)} (trial {best.id})" if best else "-"
        table.add_row(
            str(experiment.id), experiment.name, experiment.description or "", experiment.study_name or "-",
            str(len(trials)), status or "-",
            best_text, experiment.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


def trials_table(runs: Runs, name: str | None) -> Table:
    experiment, trials = runs.experiment(name)
    parameters = differing_parameters(trials)
    best = best_trial(trials, mode_of(trials[0]) if trials else "max")
    title = f"experiment {experiment.name!r}: {len(trials)} trials" + (f" — {experiment.description}" if experiment.description else "")
    table = Table(title=title, title_justify="left")
    for column in trial_header(trials, parameters):
        table.add_column(column, overflow="fold")
    for trial in trials:
        cells = trial_cells(trial, parameters)
        cells[0] += " ★" if best is not None and trial.id == best.id else ""
        cells[2] = f"[{STATUS_STYLES.get(trial.status, 'white')}]{trial.status}[/]"
        table.add_row(*cells)
    return table


# What `compare` reports by default: accuracy, sparsity and compute side by side.
COMPARED_METRICS = (
    "test/acc", "test/spikes_per_pattern_layer_0", "test/synaptic_events_per_pattern", "train/seconds_per_epoch",
)


def trial_means(epochs: Sequence[dict[str, Any]], metrics: Sequence[str]) -> dict[str, float]:
    """Each metric's mean over the epochs that logged it (test metrics: their one value)."""
    means = {}
    for metric in metrics:
        values = [row[metric] for row in epochs if metric in row]
        if values:
            means[metric] = statistics.fmean(values)
    return means


def compare(
    runs: Runs, name: str | None, metrics: Sequence[str], by: Sequence[str] = ()
) -> tuple[list[str], list[dict[str, Any]]]:
    """The completed trials of an experiment grouped by the config keys ``by`` (default: every
    parameter that differs between them but the seed): per group the number of trials and each
    metric's mean and standard deviation over them. Returns (parameters, rows)."""
    _, trials = runs.experiment(name)
    trials = [trial for trial in trials if trial.status == "completed"]
    parameters = list(by) or [key for key in differing_parameters(trials) if key != "seed"]
    groups: dict[tuple[str, ...], list[dict[str, float]]] = {}
    for trial in trials:
        flat = flatten(trial.config)
        groups.setdefault(tuple(short(flat.get(key)) for key in parameters), []).append(trial_means(runs.epoch_metrics(trial.id), metrics))
    rows = []
    for values, members in groups.items():
        row: dict[str, Any] = dict(zip(parameters, values), trials=len(members))
        for metric in metrics:
            seen = [member[metric] for member in members if metric in member]
            row[metric] = (statistics.fmean(seen), statistics.stdev(seen) if len(seen) > 1 else 0.0) if seen else None
        rows.append(row)
    return parameters, rows


def compare_table(runs: Runs, name: str | None, metrics: Sequence[str], by: Sequence[str] = ()) -> Table:
    parameters, rows = compare(runs, name, metrics, by)
    table = Table(title=f"experiment {name or 'newest'!r}: completed trials, mean ± sd over seeds", title_justify="left")
    for column in (*parameters, "trials", *metrics):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = [row[key] for key in parameters] + [str(row["trials"])]
        cells += ["-" if row[metric] is None else f"{row[metric][0]:.4g} ± {row[metric][1]:.2g}" for metric in metrics]
        table.add_row(*cells)
    return table


def show_trial(runs: Runs, trial_id: int, console: Console) -> None:
    trial, experiment, artifacts = runs.trial(trial_id)
    table = Table(title=f"trial {trial.id} of experiment {experiment.name!r}", show_header=False, title_justify="left")
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in [
        ("status", trial.status), ("job", trial.job_number), ("overrides", " ".join(trial.overrides) or "-"),
        ("seed", trial.seed), ("started", trial.started_at), ("duration", duration(trial)), ("epochs", trial.epochs),
        (f"{trial.optimized_metric} final", trial.final_value), ("best", trial.best_value),
        ("metric rows", runs.metric_count(trial.id)), ("output dir", trial.output_dir),
        ("host", trial.hostname), ("W&B run", trial.wandb_run_id),
    ]:
        table.add_row(name, short(value))
    for artifact in artifacts:
        table.add_row(artifact.kind, artifact.path)
    console.print(table)
    if trial.error:
        console.print(f"[red]error[/]:\n{trial.error}", markup=True, highlight=False)


def export(runs: Runs, trial_id: int, fmt: str) -> str:
    epochs = runs.epoch_metrics(trial_id)
    if fmt == "json":
        trial, experiment, _ = runs.trial(trial_id)
        return json.dumps({"trial": trial_id, "experiment": experiment.name, "epochs": epochs}, indent=2) + "\n"
    names = sorted({name for row in epochs for name in row} - {"epoch"})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["epoch", *names], lineterminator="\n")
    writer.writeheader()
    writer.writerows(epochs)
    return buffer.getvalue()


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lif.runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=default_url(), help="SQLAlchemy URL of the tracking database (default: %(default)s)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("experiments", help="list every experiment (the default)")
    trials = commands.add_parser("trials", help="list the trials of one experiment")
    trials.add_argument("experiment", nargs="?", help="experiment name (default: the most recently updated)")
    show = commands.add_parser("show", help="one trial in detail, with its error text and artifacts")
    show.add_argument("trial", type=int, help="trial id (the first column of `trials`)")
    exporter = commands.add_parser("export", help="a trial's epoch metrics, one row per epoch")
    exporter.add_argument("trial", type=int, help="trial id (the first column of `trials`)")
    exporter.add_argument("--format", choices=("csv", "json"), default="csv", help="(default: %(default)s)")
    exporter.add_argument("--output", help="file to write (default: standard output)")
    comparer = commands.add_parser("compare", help="groups of trials (seeds pooled): mean ± sd of chosen metrics")
    comparer.add_argument("experiment", nargs="?", help="experiment name (default: the most recently updated)")
    comparer.add_argument("--metrics", default=",".join(COMPARED_METRICS), help="comma-separated metric names (default: %(default)s)")
    comparer.add_argument("--by", default="", help="comma-separated config keys to group by, e.g. model._target_ (default: every key that differs but the seed)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(width=200)
    try:
        runs = Runs(arguments.url)
        if arguments.command in (None, "experiments"):
            console.print(experiments_table(runs))
        elif arguments.command == "trials":
            console.print(trials_table(runs, arguments.experiment))
        elif arguments.command == "show":
            show_trial(runs, arguments.trial, console)
        elif arguments.command == "compare":
            by = [key for key in arguments.by.split(",") if key]
            console.print(compare_table(runs, arguments.experiment, arguments.metrics.split(","), by))
        else:
            text = export(runs, arguments.trial, arguments.format)
            if arguments.output:
                with open(arguments.output, "w") as handle:
                    handle.write(text)
            else:
                sys.stdout.write(text)
    except (LookupError, FileNotFoundError) as error:
        print(f"lif.runs: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
