"""Checks of a job's whole config that no single constructor can make, run before training.

Each failure is one :class:`~lif.errors.ConfigError` naming the field as the user typed it
(a value interpolated from elsewhere is named where it was typed: ``optimized_metric``, not
``callbacks.model_checkpoint.monitor``).

given       every field without a default (``???``, say ``data.path``) has a value
finite      every number is finite: ``optimizer.lr=nan`` would train into NaN
numbers     a field whose constructor takes a number holds one (``kernel.tau_m=abc``)
ranges      values of the constructors that are not ours (Lightning's trainer and callbacks,
            torch's optimizers and schedules), :data:`RANGES`; ours check their own arguments
metrics     what the callbacks monitor is a metric some split logs while training, and
            ``optimized_metric`` one the job logs (:func:`check_monitored_metrics`)
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from lif.callbacks import EPOCHS_TO_PERFECT, StopAtPerfectAccuracy
from lif.errors import ConfigError
from lif.module import describe_metrics, logs_metric


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Ranges of fields whose constructors do not check them (or check them with a message that
# does not name the field): field -> (test, what is expected). Absent fields are not checked.
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (lambda v: is_integer(v) and 0 <= v < 2**32, "an integer in [0, 2^32)"),
    "trainer.max_epochs": (
        lambda v: is_integer(v) and v >= 1,
        "an integer >= 1, the most epochs to train (callbacks.stop_at_perfect and early_stopping end sooner)",
    ),
    "trainer.min_epochs": (lambda v: v is None or (is_integer(v) and v >= 0), "null or an integer >= 0"),
    "trainer.check_val_every_n_epoch": (lambda v: v is None or (is_integer(v) and v >= 1), "null or an integer >= 1"),
    "optimizer.lr": (lambda v: is_number(v) and v > 0, "a learning rate > 0"),
    "optimizer.momentum": (lambda v: is_number(v) and 0 <= v < 1, "a momentum in [0, 1)"),
    "optimizer.dampening": (lambda v: is_number(v) and 0 <= v <= 1, "a dampening in [0, 1]"),
    "optimizer.weight_decay": (lambda v: is_number(v) and v >= 0, "a weight decay >= 0"),
    "scheduler.step_size": (lambda v: is_integer(v) and v >= 1, "an integer >= 1 (epochs between learning-rate steps)"),
    "scheduler.gamma": (lambda v: is_number(v) and v > 0, "a learning-rate factor > 0"),
    "scheduler.eta_min": (lambda v: is_number(v) and v >= 0, "a smallest learning rate >= 0"),
    "callbacks.early_stopping.patience": (lambda v: is_integer(v) and v >= 0, "an integer >= 0 (epochs, no improvement)"),
    "callbacks.early_stopping.min_delta": (lambda v: is_number(v) and v >= 0, "an improvement >= 0"),
    "callbacks.early_stopping.mode": (lambda v: v in ("min", "max"), "min or max"),
    "callbacks.model_checkpoint.save_top_k": (lambda v: is_integer(v) and v >= -1, "an integer >= -1 (-1: all)"),
    "callbacks.model_checkpoint.mode": (lambda v: v in ("min", "max"), "min or max"),
}


def check_config(cfg: DictConfig) -> None:
    """Every check of this module that needs only the config (the metrics need the data too)."""
    for field, value in leaves(OmegaConf.to_container(cfg, resolve=False)):
        if value == "???":
            raise ConfigError(field, f"a value (the field has no default: {field}=...)", value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(field, "a finite number", value)
    for field, node in targets(cfg):
        check_numbers(node, field)
    for field, (test, expected) in RANGES.items():
        value = OmegaConf.select(cfg, field, default=None)
        if value is not None and not test(value):
            raise ConfigError(typed_field(cfg, field), expected, value)


def leaves(value: Any, field: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted field, value) of every value in a plain container (``model.hidden[0]`` for lists)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{field}[{index}]")
    else:
        yield field, value


def targets(node: DictConfig, field: str = "") -> Iterator[tuple[str, DictConfig]]:
    """(dotted field, node) of every node with a ``_target_`` typed in this config (an interpolated
    one, such as the model's ``kernel: ${kernel}``, is checked where it was typed)."""
    if "_target_" in node:
        yield field, node
    for key in node:
        if isinstance(key, str) and not OmegaConf.is_interpolation(node, key) and isinstance(node[key], DictConfig):
            yield from targets(node[key], f"{field}.{key}" if field else key)


def number_kind(annotation: Any) -> str | None:
    """"an integer" or "a number" when a parameter annotated ``annotation`` takes only numbers
    (``float``, ``int | None``, ``Union[float, Tensor]``), else None."""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    words = set(re.findall(r"[A-Za-z_]\w*", text)) - {"Optional", "Union", "None", "typing", "torch", "Tensor"}
    if words == {"int"}:
        return "an integer"
    return "a number" if words and words <= {"int", "float"} else None


def parameters_of(target: Any) -> dict[str, inspect.Parameter]:
    """The named parameters of a callable; for a class also those its base classes take through
    ``**kwargs`` (a data module's ``batch_size``)."""
    if inspect.isclass(target):
        functions = [base.__init__ for base in inspect.getmro(target) if "__init__" in vars(base)]
    else:
        functions = [target]
    parameters: dict[str, inspect.Parameter] = {}
    for function in functions:
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            break
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        for name, parameter in signature.parameters.items():
            if parameter.kind in named:
                parameters.setdefault(name, parameter)
        if all(parameter.kind != inspect.Parameter.VAR_KEYWORD for parameter in signature.parameters.values()):
            break
    return parameters


def check_numbers(node: DictConfig, field: str) -> None:
    """Refuse a string (or a fraction for an integer) in a field whose constructor, ``node._target_``,
    takes a number by its signature."""
    try:
        parameters = parameters_of(hydra.utils.get_object(node._target_))
    except Exception:  # noqa: BLE001 (not importable: instantiating it reports that)
        return
    for name, parameter in parameters.items():
        kind = number_kind(parameter.annotation) if parameter.annotation is not inspect.Parameter.empty else None
        if kind is None or name not in node:
            continue
        value = node[name]
        if value is not None and not (is_integer(value) if kind == "an integer" else is_number(value)):
            raise ConfigError(interpolated_from(node, name) or (f"{field}.{name}" if field else name), kind, value)


def typed_field(cfg: DictConfig, field: str) -> str:
    """Where the value of ``field`` was typed: the field it interpolates (``${optimized_metric}``),
    or ``field`` itself."""
    parent, _, key = field.rpartition(".")
    return interpolated_from(OmegaConf.select(cfg, parent) if parent else cfg, key) or field


def interpolated_from(node: DictConfig, key: str) -> str | None:
    """The field that ``node[key]`` interpolates as a whole (``${seed}``: ``seed``), or None."""
    raw = OmegaConf.to_container(node, resolve=False)[key]
    interpolated = re.fullmatch(r"\$\{([\w.]+)\}", raw) if isinstance(raw, str) else None
    return interpolated.group(1) if interpolated else None


def check_monitored_metrics(cfg: DictConfig, datamodule: Any, callbacks: list[Any]) -> None:
    """Every metric a callback monitors is one that a split logs while training, and
    ``optimized_metric`` one the job logs (test metrics after training, ``train/epochs_to_perfect``
    at its end when callbacks.stop_at_perfect runs)."""
    splits, labels = list(datamodule.evaluation_splits), list(datamodule.label_names)
    for name, entry in (cfg.get("callbacks") or {}).items():
        monitor = entry.get("monitor") if entry else None
        if monitor is not None and not logs_metric(str(monitor), splits, labels):
            field = typed_field(cfg, f"callbacks.{name}.monitor")
            expected = f"a metric logged while training, which callbacks.{name} monitors: {describe_metrics(splits)}"
            raise ConfigError(field, expected, monitor)
    final_splits = [*splits, "test"] if "test" in datamodule.splits else splits
    metric = cfg.get("optimized_metric")
    at_end = metric == EPOCHS_TO_PERFECT and any(isinstance(callback, StopAtPerfectAccuracy) for callback in callbacks)
    if not at_end and not (isinstance(metric, str) and logs_metric(metric, final_splits, labels)):
        also = f"; {EPOCHS_TO_PERFECT} with callbacks.stop_at_perfect"
        raise ConfigError("optimized_metric", f"a metric the job logs: {describe_metrics(final_splits)}{also}", metric)
