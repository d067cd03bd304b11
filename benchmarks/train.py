"""Seconds per epoch and final test metrics of the course's two models, on this machine.

    python benchmarks/train.py [--data DIR] [--archs scratch transfer] [--out runs/benchmark] [--reuse DIR]

Each model is trained as ``pneumolab train`` trains it (threshold chosen on the
patient-grouped validation split), then scored once on the official test split.
With ``--reuse``, the models already trained in ``DIR/<model>`` (e.g. ``runs/``
by notebooks 03 and 04) are scored instead, with the training times their
cards recorded, so nothing is trained twice.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from _report import report

from pneumolab import models
from pneumolab.inference.scoring import score_model
from pneumolab.training.config import ARCHS, TrainConfig
from pneumolab.training.run import seconds_per_epoch, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA)")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS,
                        help="architectures to train and score (default: all)")
    parser.add_argument("--out", default="runs/benchmark", help="where the trained models are written")
    parser.add_argument("--reuse", metavar="DIR", help="score DIR/<model> instead of training")
    args = parser.parse_args()

    rows, cards = [], {}
    for name in args.archs:
        if args.reuse:
            folder = Path(args.reuse) / name
            card = models.load_card(folder)
        else:
            result = train(TrainConfig(arch=name), args.data, Path(args.out) / name)
            folder, card = result.folder, result.card
        test = score_model(folder, split="test", data_dir=args.data)
        cards[name] = dict(card=card.to_dict(), test=test)
        rows.append(dict(
            model=name, parameters=card.parameters,
            epochs=card.training.epochs_run,
            s_per_epoch=seconds_per_epoch(pd.read_csv(Path(folder) / models.HISTORY_FILE)),
            total_s=card.training.seconds,
            val_auc=card.report("val")["roc_auc"], threshold=card.threshold,
            test_auc=test["roc_auc"], test_recall=test["recall"], test_specificity=test["specificity"],
            test_precision=test["precision"], test_f1=test["f1"],
        ))
    report("train", rows, details=cards)


if __name__ == "__main__":
    main()
