"""One self-contained HTML page about an experiment, built from the tracking database.

    python -m lif.report EXPERIMENT [--url URL] [--output FILE] [--storage OPTUNA_URL]

The page holds the experiment's trials as a table (parameters that differ, status,
results), the learning curves of all trials overlaid, the best trial's plots and, for an
Optuna search, the optimisation history. Images are embedded (base64 PNG), so the file
opens in any browser offline and can be mailed around. It only reads the database.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from lif.plots import DPI, FIGURE_SIZE, plt
from lif.search import quiet_optuna_warnings
from lif.runs import Runs, best_trial, differing_parameters, mode_of, trial_cells, trial_header
from lif.tracking.database import default_url

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f0f0f0; }
tr.best { background: #fff6d5; }
td.completed { color: #1a7f37; } td.failed { color: #cf222e; } td.interrupted { color: #8250df; }
td.running { color: #9a6700; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
"""


def embedded_png(figure=None, path: Path | None = None) -> str:
    """An <img> with the PNG inside the page (from a matplotlib figure or a file)."""
    if figure is not None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        data = buffer.getvalue()
    else:
        data = Path(path).read_bytes()
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def overlaid_learning_curves(runs: Runs, trials) -> str:
    """Train and validation accuracy and loss of every trial on one figure."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=FIGURE_SIZE, dpi=DPI)
    for trial in trials:
        epochs = runs.epoch_metrics(trial.id)
        for axis, name in ((loss_axis, "loss"), (accuracy_axis, "acc")):
            for split, style in (("train", "-"), ("val", "--")):
                points = [(row["epoch"], row[f"{split}/{name}"]) for row in epochs if f"{split}/{name}" in row]
                if points:
                    axis.plot(*zip(*points), style, linewidth=1, label=f"trial {trial.id} {split}")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="loss, every trial")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy", title="accuracy, every trial", ylim=(0, 1.02))
    if len(trials) <= 12 and accuracy_axis.lines:
        accuracy_axis.legend(fontsize=7)
    return embedded_png(figure)


def optimisation_history(study_name: str, storage: str) -> str:
    """Optuna's own plot of the objective per trial and the best so far."""
    import optuna
    from optuna.visualization.matplotlib import plot_optimization_history

    quiet_optuna_warnings()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=storage)
    axis = plot_optimization_history(study)
    axis.figure.set_size_inches(*FIGURE_SIZE)
    return embedded_png(axis.figure)


def trials_table(trials, parameters: list[str], best) -> str:
    rows = []
    for trial in trials:
        cells = [html.escape(cell) for cell in trial_cells(trial, parameters)]
        cells[2] = f'<td class="{cells[2]}">{cells[2]}</td>'
        row_class = ' class="best"' if best is not None and trial.id == best.id else ""
        rows.append(f"<tr{row_class}>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(name)}</th>" for name in trial_header(trials, parameters))
    return f'<table id="trials"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def build_report(runs: Runs, name: str, storage: str | None = None) -> str:
    experiment, trials = runs.experiment(name)
    parameters = differing_parameters(trials)
    best = best_trial(trials, mode_of(trials[0]) if trials else "max")
    sections = [
        f"<h1>Experiment {html.escape(experiment.name)}</h1>",
        f"<p>{html.escape(experiment.description or '')}</p>",
        f"<p>{len(trials)} trials; database {html.escape(runs.url)}; the best trial is highlighted.</p>",
        "<h2>Trials</h2>",
        trials_table(trials, parameters, best),
        "<h2>Learning curves</h2>",
        overlaid_learning_curves(runs, trials),
    ]
    if best is not None:
        _, _, artifacts = runs.trial(best.id)
        plots = [artifact for artifact in artifacts if artifact.kind == "plot" and Path(artifact.path).is_file()]
        sections.append(f"<h2>Best trial: {best.id}</h2>")
        sections.append(f"<p>{html.escape(' '.join(best.overrides) or 'default settings')}</p>")
        sections += [f"<h3>{html.escape(Path(plot.path).stem)}</h3>{embedded_png(path=Path(plot.path))}" for plot in plots]
        if not plots:
            sections.append("<p>No plot files of this trial were found.</p>")
    if experiment.study_name:
        sections.append(f"<h2>Optuna study {html.escape(experiment.study_name)}</h2>")
        try:
            sections.append(optimisation_history(experiment.study_name, storage or experiment.study_storage))
        except Exception as error:  # the report is still useful without the study
            sections.append(f"<p>The study could not be read ({html.escape(str(error))}); pass --storage.</p>")
    body = "\n".join(sections)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>lif: {html.escape(experiment.name)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lif.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", help="the experiment's name (see python -m lif.runs)")
    parser.add_argument("--url", default=default_url(), help="tracking database (default: %(default)s)")
    parser.add_argument("--output", help="HTML file to write (default: report-<experiment>.html)")
    parser.add_argument("--storage", help="Optuna storage of the study (default: the one the experiment recorded)")
    arguments = parser.parse_args(argv)
    try:
        page = build_report(Runs(arguments.url), arguments.experiment, arguments.storage)
    except (LookupError, FileNotFoundError) as error:
        print(f"lif.report: {error}", file=sys.stderr)
        return 1
    output = Path(arguments.output or f"report-{arguments.experiment}.html")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
