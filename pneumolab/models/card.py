"""The model card as typed records: what a trained model takes, how it came to be, how it scored.

A card is written beside every trained model (``model_card.json``) and read
by scoring, prediction, explanation, the panel and the CLI. Its schema lives
here and nowhere else: :class:`ModelCard` and the records it holds, written
with :meth:`ModelCard.to_json` under a schema version (:data:`CARD_VERSION`)
and read back with :meth:`ModelCard.from_json`. Cards written before the
schema had a version (version 0: a plain dictionary whose split reports sat
at the top level, e.g. ``"validation"`` and ``"test"``) still load. A card
from a newer kit, or one missing a field, is refused with the file and the
field named.

Pure Python: the panel reads cards without importing TensorFlow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

#: The schema version this kit writes and the newest it reads (2 added an ensemble's members and
#: calibration; a version-1 card reads unchanged).
CARD_VERSION = 2
#: How an image is fitted to the model's square input: stretched (``squash``) or with black bars
#: keeping its aspect ratio (``pad``); see :func:`pneumolab.preprocess.transforms.resize`.
Fit = Literal["squash", "pad"]
FITS: tuple[str, ...] = get_args(Fit)
#: The pixel scales a model may expect; the kit's models normalize inside themselves, so only 0-255.
SCALES = ("0-255",)
#: Where version-0 cards kept each split's report, and the split it names.
_OLD_REPORT_KEYS = {"validation": "val", "train": "train", "val": "val", "test": "test"}


class CardError(ValueError):
    """A model card that cannot be read: its file and the field at fault are in the message."""


@dataclass(frozen=True)
class InputSpec:
    """What the model takes: square images of ``image_size`` pixels with ``channels`` channels,
    fitted to the square by ``fit``, on the ``scale`` of pixel values."""

    image_size: int
    channels: int
    fit: Fit = "squash"
    scale: str = "0-255"

    def __post_init__(self) -> None:
        """Refuse an input no pipeline of the kit can build."""
        if not isinstance(self.image_size, int) or self.image_size < 1:
            raise CardError(f"input.image_size must be a positive number of pixels, got {self.image_size!r}.")
        if self.channels not in (1, 3):
            raise CardError(f"input.channels must be 1 (gray) or 3 (RGB), got {self.channels!r}.")
        if self.fit not in FITS:
            raise CardError(f"input.fit must be one of {FITS}, got {self.fit!r}.")
        if self.scale not in SCALES:
            raise CardError(f"input.scale {self.scale!r} is not supported (the kit feeds {SCALES[0]}).")


@dataclass(frozen=True)
class ThresholdRule:
    """How the operating threshold was chosen: a rule, its target if it has one, and on which split."""

    rule: str
    target: float | None = None
    chosen_on: str = "validation"


@dataclass(frozen=True)
class DataRecord:
    """The data a model was trained on: folder, images per split, and how validation was carved."""

    folder: str
    #: Usable images per split (``train``, ``val``, ``test``) at training time.
    images: dict[str, int]
    split: str
    split_seed: int
    val_fraction: float
    #: True when trained on quick mode's small slice: its validation split is not the full one.
    quick_subset: bool = False


@dataclass(frozen=True)
class TrainingRecord:
    """How training went: the run's settings, epochs, the epoch kept, and time taken."""

    #: The training configuration as it was resolved for the run (field name -> value).
    config: dict[str, Any]
    epochs_run: int
    best_epoch: int
    seconds: float
    #: Mean seconds per epoch; per stage when training had stages (transfer learning).
    seconds_per_epoch: float | dict[str, float]


@dataclass(frozen=True)
class MemberRecord:
    """One member of an ensemble: where it came from, and the temperature that calibrates it."""

    name: str
    arch: str
    #: The model folder it was read from when the ensemble was built.
    folder: str
    #: Its logit is divided by this before averaging (fitted on validation).
    temperature: float
    #: Its ROC AUC on validation, alone.
    val_roc_auc: float
    #: The command line that trained it, when known.
    command: str | None = None


@dataclass(frozen=True)
class CalibrationRecord:
    """How the output's probabilities were calibrated: ``sigmoid(weight * logit + bias)``, fitted on
    ``fitted_on``."""

    method: str
    weight: float
    bias: float
    fitted_on: str = "validation"
    #: ε of the smoothed targets (ε/2, 1 - ε/2) the fit used; 0: the labels themselves.
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class ModelCard:
    """Everything a reader needs to use, trust or reproduce a trained model."""

    name: str
    task: str
    #: Class names in the order of the model's outputs.
    classes: tuple[str, ...]
    input: InputSpec
    #: The operating threshold chosen on validation; ``None`` for a model of several classes.
    threshold: float | None
    threshold_rule: ThresholdRule
    data: DataRecord
    training: TrainingRecord
    parameters: int
    #: Library versions the model was trained with (name -> version).
    versions: dict[str, str]
    #: The command line that trained it, when trained from the command line.
    command: str | None = None
    #: Evaluation reports per split (``"val"`` from training; ``"test"`` once scored on it).
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: An ensemble's members (empty for a single model).
    members: tuple[MemberRecord, ...] = ()
    #: How the output was calibrated after training, if it was.
    calibration: CalibrationRecord | None = None

    def __post_init__(self) -> None:
        """Refuse a threshold outside 0-1 (the card would answer every image the same way)."""
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise CardError(f"threshold must lie between 0 and 1, got {self.threshold!r}.")

    def report(self, split: str) -> dict[str, Any]:
        """The card's report on ``split``, or a clear error naming the splits it has."""
        if split not in self.reports:
            raise KeyError(f"The model card of {self.name!r} has no report on {split!r} "
                           f"(it has: {', '.join(self.reports) or 'none'}).")
        return self.reports[split]

    def with_report(self, split: str, report: Mapping[str, Any]) -> ModelCard:
        """The same card with ``report`` recorded for ``split`` (replacing any earlier one)."""
        return replace(self, reports=self.reports | {split: dict(report)})

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data, led by its schema version."""
        body = asdict(self)
        body["classes"] = list(self.classes)
        body["members"] = [asdict(member) for member in self.members]
        return {"card_version": CARD_VERSION, **body}

    def to_json(self) -> str:
        """The card as the text of ``model_card.json``."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any], source: str | Path = "model card") -> ModelCard:
        """A card from the text (or parsed data) of ``model_card.json``; ``source`` names it in errors.

        Reads every schema version up to :data:`CARD_VERSION`; refuses a newer one,
        a missing field or a field of the wrong kind with a :class:`CardError`
        that names ``source`` and the field.
        """
        try:
            raw = json.loads(text) if isinstance(text, str) else dict(text)
        except json.JSONDecodeError as error:
            raise CardError(f"{source} is not valid JSON: {error}.") from None
        if not isinstance(raw, dict):
            raise CardError(f"{source} holds a {type(raw).__name__}, not a model card.")
        version = raw.pop("card_version", 0)
        if not isinstance(version, int) or version < 0:
            raise CardError(f"{source}: card_version must be a whole number, got {version!r}.")
        if version > CARD_VERSION:
            raise CardError(f"{source} was written with model card version {version}; this pneumolab "
                            f"reads up to version {CARD_VERSION}. Upgrade pneumolab to read it.")
        if version == 0:
            raw = _from_version_0(raw)
        try:
            return _build(cls, raw, "")
        except CardError as error:
            raise CardError(f"{source}: {error}") from None


def _from_version_0(raw: dict[str, Any]) -> dict[str, Any]:
    """A version-0 card in today's layout: the split reports gathered under ``reports``, and the
    training config's architecture under its name of today, ``arch`` (it was ``model``)."""
    reports = {split: raw.pop(key) for key, split in _OLD_REPORT_KEYS.items()
               if isinstance(raw.get(key), dict)}
    training = raw.get("training")
    config = training.get("config") if isinstance(training, dict) else None
    if isinstance(config, dict) and "model" in config:
        config = {("arch" if key == "model" else key): value for key, value in config.items()}
        raw = raw | {"training": training | {"config": config}}
    return raw | {"reports": reports}


def _build(kind: type, raw: Any, path: str) -> Any:
    """An instance of the record ``kind`` from ``raw``, its fields' own records built likewise."""
    if not isinstance(raw, Mapping):
        raise CardError(f"field {path.rstrip('.') or 'card'!r} must be a mapping, got {raw!r}.")
    known = {item.name: item for item in fields(kind)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise CardError(f"unknown field {path + unknown[0]!r} (a newer or damaged card?).")
    values = {}
    for name, item in known.items():
        if name not in raw:
            if _required(item):
                raise CardError(f"field {path + name!r} is missing.")
            continue
        record = _RECORDS.get(name) if kind is ModelCard else None
        if kind is ModelCard and name == "members":
            values[name] = _members(raw[name])
        elif record and raw[name] is not None:
            values[name] = _build(record, raw[name], f"{path}{name}.")
        else:
            values[name] = raw[name]
    if kind is ModelCard:
        if not isinstance(values["classes"], list | tuple):
            raise CardError(f"field 'classes' must be a list of class names, got {values['classes']!r}.")
        values["classes"] = tuple(values["classes"])
    try:
        return kind(**values)
    except CardError:
        raise
    except (TypeError, ValueError) as error:
        raise CardError(f"field {path.rstrip('.') or 'card'!r} cannot be read: {error}.") from None


def _members(raw: Any) -> tuple[MemberRecord, ...]:
    if not isinstance(raw, list | tuple):
        raise CardError(f"field 'members' must be a list of members, got {raw!r}.")
    return tuple(_build(MemberRecord, item, f"members[{i}].") for i, item in enumerate(raw))


def _required(item: Field) -> bool:
    return item.default is MISSING and item.default_factory is MISSING


#: The fields of a card that are records of their own.
_RECORDS: dict[str, type] = {"input": InputSpec, "threshold_rule": ThresholdRule, "data": DataRecord,
                             "training": TrainingRecord, "calibration": CalibrationRecord}
