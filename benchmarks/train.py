"""Seconds per epoch and final test metrics of the course's two models, on this machine.

    python benchmarks/train.py [--data DIR] [--models scratch transfer] [--out runs/benchmark]

Each model is trained as ``pneumolab train`` trains it (threshold chosen on the
patient-grouped validation split), then scored once on the official test split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _report import report

from pneumolab.scoring import score_model
from pneumolab.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA)")
    parser.add_argument("--models", nargs="+", default=["scratch", "transfer"],
                        choices=["scratch", "transfer"])
    parser.add_argument("--out", default="runs/benchmark", help="where the trained models are written")
    args = parser.parse_args()

    rows, cards = [], {}
    for name in args.models:
        result = train(TrainConfig.for_model(name), args.data, Path(args.out) / name)
        test = score_model(result.folder, split="test", data_dir=args.data)
        cards[name] = dict(card=result.card, test=test)
        rows.append(dict(
            model=name, parameters=result.card["parameters"],
            epochs=result.card["training"]["epochs_run"],
            s_per_epoch=result.card["training"]["seconds_per_epoch"],
            total_s=result.card["training"]["seconds"],
            val_auc=result.card["validation"]["roc_auc"], threshold=result.card["threshold"],
            test_auc=test["roc_auc"], test_recall=test["recall"], test_specificity=test["specificity"],
            test_precision=test["precision"], test_f1=test["f1"],
        ))
    report("train", rows, details=cards)


if __name__ == "__main__":
    main()
