"""Model cards for tests: a complete card with only what a test cares about chosen."""

from __future__ import annotations

from dataclasses import replace

from pneumolab.models.card import DataRecord, InputSpec, ModelCard, ThresholdRule, TrainingRecord


def probe_card(
    image_size: int = 32,
    channels: int = 1,
    threshold: float | None = 0.5,
    *,
    task: str = "binary",
    classes: tuple[str, ...] = ("NORMAL", "PNEUMONIA"),
    images: dict[str, int] | None = None,
    **changes,
) -> ModelCard:
    """A card for an untrained test model: ``image_size`` x ``image_size`` with ``channels``,
    ``threshold``, trained (nominally) on ``images`` per split; ``changes`` replace any other field."""
    card = ModelCard(
        name="probe",
        task=task,
        classes=classes,
        input=InputSpec(image_size, channels),
        threshold=threshold,
        threshold_rule=ThresholdRule("recall", 0.95),
        data=DataRecord(folder="tiny", images=images or {}, split="validation carved from train",
                        split_seed=1234, val_fraction=0.25),
        training=TrainingRecord(config={}, epochs_run=0, best_epoch=0, seconds=0.0, seconds_per_epoch=0.0),
        parameters=0,
        versions={},
    )
    return replace(card, **changes)
