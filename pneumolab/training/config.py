"""What decides a training run: :class:`TrainConfig` and the one table of its defaults.

TensorFlow-free on purpose: ``pneumolab train`` builds its config from the command
line and so refuses a bad setting in a fraction of a second, before Keras loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from pneumolab import config, limits
from pneumolab.data import manifest as data

#: The architectures a run can train (each one a strategy in :mod:`pneumolab.training.strategies`).
ARCHS = ("scratch", "transfer", "probe")

#: The one table of defaults. A setting left unset takes the first value found in: quick mode's row
#: (only in quick mode), the architecture's row, the shared row. Settings given explicitly always win.
DEFAULTS: dict[str, dict[str, Any]] = {
    "shared": dict(task="binary", channels=1, batch_size=32, learning_rate=1e-3, patience=4,
                   val_fraction=0.2, seed=config.SEED, augment=True, threshold_rule="recall",
                   threshold_target=0.95, label_smoothing=0.0),
    # The scratch CNN learns at 128 px gray; the ImageNet backbone wants 224.
    "scratch": dict(image_size=128, epochs=15),
    # Transfer learning trains on cached activations: the images never change, so no augmentation.
    "transfer": dict(image_size=224, epochs=12, augment=False),
    # A linear probe: the frozen ImageNet backbone's pooled features, one linear layer trained on them
    # with smoothed labels (targets 0.05 and 0.95), so it never learns to be certain.
    "probe": dict(image_size=224, epochs=30, augment=False, label_smoothing=0.1),
    # Quick mode runs every step on a small subset (QUICK_PER_CLASS images per split and class), once.
    "quick": dict(epochs=1),
}

#: Images per (split, class) kept in quick mode: enough to run every step, not to learn much.
QUICK_PER_CLASS = 40

#: Threshold rules a training run can apply on validation (those needing no costs; see metrics.thresholds).
THRESHOLD_RULES = ("recall", "precision", "fbeta", "youden")


@dataclass
class TrainConfig:
    """Everything that decides a training run; recorded, resolved, in the model card.

    ``TrainConfig(arch="transfer", task="cause")`` takes every setting not given from
    :data:`DEFAULTS`; an impossible setting is refused here, before any image is read.
    """

    arch: str = "scratch"
    task: str | None = None
    epochs: int | None = None
    image_size: int | None = None
    channels: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    patience: int | None = None
    val_fraction: float | None = None
    seed: int | None = None
    augment: bool | None = None
    threshold_rule: str | None = None
    threshold_target: float | None = None
    label_smoothing: float | None = None
    quick: bool = field(default_factory=config.quick_mode)

    def __post_init__(self) -> None:
        """Fill unset settings from the table, then refuse impossible ones now, not after minutes of work."""
        if self.arch not in ARCHS:
            raise ValueError(f"Unknown architecture {self.arch!r}; choose one of {list(ARCHS)}.")
        for name, value in defaults(self.arch, self.quick).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        limits.check_epochs(self.epochs)
        limits.check_image_size(self.arch, self.image_size)
        if self.task not in data.TASKS:
            raise ValueError(f"Unknown task {self.task!r}; choose one of {sorted(data.TASKS)}.")
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ValueError(f"Unknown threshold rule {self.threshold_rule!r}; "
                             f"choose one of {THRESHOLD_RULES}.")
        if self.arch in ("transfer", "probe") and self.augment:
            raise ValueError(f"The {self.arch} model trains on cached activations and cannot augment "
                             "its images.")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}.")
        if not 0 < self.val_fraction <= 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5], got {self.val_fraction}.")

    def describe(self) -> str:
        """One line with every setting, saying which ones quick mode chose (so it never acts unseen)."""
        quick = DEFAULTS["quick"] if self.quick else {}
        usual = defaults(self.arch, quick=False)
        shown = []
        for item in fields(self):
            value = getattr(self, item.name)
            note = (f" (quick mode; usually {usual[item.name]})"
                    if item.name in quick and value == quick[item.name] != usual[item.name] else "")
            shown.append(f"{item.name} {value}{note}")
        return ", ".join(shown)


def defaults(arch: str, quick: bool) -> dict[str, Any]:
    """The settings an ``arch`` run takes when given none: the shared row, the arch's, quick mode's."""
    return DEFAULTS["shared"] | DEFAULTS[arch] | (DEFAULTS["quick"] if quick else {})
