"""Normal, bacterial or viral: the three-class transfer model, scored once on the official test split.

    python benchmarks/cause.py [--data DIR] [--out runs/benchmark/cause] [--reuse DIR]

Trains as ``pneumolab train --arch transfer --task cause`` does, or with
``--reuse`` reads a model folder already trained that way (e.g. ``runs/cause``
from notebook 07), so nothing is trained twice. Prints per-class recall,
precision and one-vs-rest ROC AUC with bootstrap intervals, then the
viral-vs-bacterial question among the pneumonia images, at a threshold chosen
on the validation split (Youden's J), beside Kermany et al. (2018).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _report import report

from pneumolab import metrics, models
from pneumolab.data import manifest as data
from pneumolab.inference.scoring import predict_split
from pneumolab.metrics import multiclass
from pneumolab.training.config import TrainConfig
from pneumolab.training.run import train

#: Kermany et al. (2018), their binary bacterial-vs-viral model on pneumonia images.
KERMANY_2018 = dict(accuracy=0.907, sensitivity=0.886, specificity=0.909, roc_auc=0.940)


def probabilities(frame, card: models.ModelCard):
    """The ``p_<class>`` columns of a scored frame, in the model's class order."""
    return frame[[f"p_{name}" for name in card.classes]].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA)")
    parser.add_argument("--out", default="runs/benchmark/cause", help="where the trained model is written")
    parser.add_argument("--reuse", metavar="DIR", help="score this trained model folder instead of training")
    args = parser.parse_args()

    if args.reuse:
        model, card = models.load(models.resolve(args.reuse))
    else:
        result = train(TrainConfig(arch="transfer", task="cause"), args.data, Path(args.out))
        model, card = result.model, result.card
    if card.task != "cause":
        parser.error(f"{args.reuse} holds a {card.task!r} model, not a 'cause' one.")
    classes = list(card.classes)

    test = predict_split(model, card, "test", args.data)
    y_test = data.targets(test, "cause")
    three = multiclass.multiclass_report(y_test, probabilities(test, card), classes)

    val = predict_split(model, card, "val", args.data)
    question = dict(classes=classes, positive="virus", negative="bacteria")
    y_val, s_val = multiclass.pair_scores(data.targets(val, "cause"), probabilities(val, card), **question)
    threshold = metrics.choose_threshold(y_val, s_val, "youden").threshold
    pair = metrics.report(*multiclass.pair_scores(y_test, probabilities(test, card), **question), threshold)

    rows = [_row(f"{name} vs the rest", scores, scores["support"], three["ci"]["per_class"][name]["roc_auc"])
            for name, scores in three["per_class"].items()]
    rows.append(_row("virus vs bacteria", pair, pair["n"], pair["ci"]["roc_auc"]))
    print(f"{card.name}, quick subset: {card.data.quick_subset}; test accuracy "
          f"{three['accuracy']:.3f} {metrics.interval_text(three['ci']['accuracy'])}, macro ROC AUC "
          f"{three['macro_roc_auc']:.3f} {metrics.interval_text(three['ci']['macro_roc_auc'])}")
    print(f"virus vs bacteria at threshold {threshold:.3f} (chosen on validation): accuracy "
          f"{pair['accuracy']:.3f}, sensitivity {pair['recall']:.3f}, specificity {pair['specificity']:.3f}; "
          f"Kermany et al. 2018: {KERMANY_2018}")
    report("cause", rows, model=card.name, quick_subset=card.data.quick_subset,
           training=card.to_dict()["training"], test=three, virus_vs_bacteria=pair, kermany_2018=KERMANY_2018)


def _row(question: str, scores: dict, images: int, auc_interval: list) -> dict:
    """One line of the table, in percent: recall, precision, ROC AUC and its 95 % interval."""
    low, high = (None if bound is None else 100 * bound for bound in auc_interval)
    return dict(question=question, images=images, recall_pct=100 * scores["recall"],
                precision_pct=100 * scores["precision"], roc_auc_pct=100 * scores["roc_auc"],
                roc_auc_low_pct=low, roc_auc_high_pct=high)


if __name__ == "__main__":
    main()
