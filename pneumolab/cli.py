"""The ``pneumolab`` command: one subcommand per job, each a thin call into the package.

Errors a user can fix (no data, a bad argument, a failed download) end in
one plain line on stderr and exit code 1 or 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from pneumolab import __version__, config, limits

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    """Register a subcommand's handler under ``name``."""

    def register(handler: Command) -> Command:
        _COMMANDS[name] = handler
        return handler

    return register


@command("info")
def _info(args: argparse.Namespace) -> int:
    from pneumolab.data import manifest as data

    manifest = data.build_manifest(args.data, check=not args.fast)
    root = data.find_data_dir(args.data)
    summary = {"data_dir": str(root), "sample": root == config.SAMPLE_DIR.resolve(),
               **data.summarize(manifest)}
    if args.json and _write_json(summary, args.json):
        return 0
    print(data.describe_source(args.data))
    print(f"{'split':<8}{'NORMAL':>8}{'PNEUMONIA':>11}{'patients':>10}")
    for split, counts in summary["splits"].items():
        print(f"{split:<8}{counts['NORMAL']:>8}{counts['PNEUMONIA']:>11}{summary['patients'][split]:>10}")
    for split, causes in summary["causes"].items():
        print(f"causes in {split}: " + ", ".join(f"{k} {v}" for k, v in sorted(causes.items())))
    if "duplicates" in summary:
        dupes = summary["duplicates"]
        print(f"identical files: {dupes['files']} in {dupes['groups']} groups "
              f"({dupes['across_splits']} groups across splits)")
    print(f"patient ids found in more than one split: {summary['patients_in_several_splits']}")
    if summary["bad_files"]:
        print(f"unusable files: {len(summary['bad_files'])}")
    return 0


@command("download")
def _download(args: argparse.Namespace) -> int:
    from pneumolab.data import download

    target = Path(args.out) if args.out else None
    if args.source == "kaggle":
        where = download.download_kaggle(target)
        print(f"The full set is in {where}; the kit finds it from now on (`pneumolab info` counts it).")
        return 0
    where = download.download_medmnist(args.size, target)
    print(f"PneumoniaMNIST is in {where}. Its images have no patient ids and no causes: lesson 01 "
          "explains what that means for the split; lesson 07 (three classes) uses the embedded sample.")
    print(f"Use it with: export PNEUMOLAB_DATA={where}")
    return 0


@command("train")
def _train(args: argparse.Namespace) -> int:
    from pneumolab.training.config import TrainConfig

    # Unset settings come from the defaults table; a bad combination is refused here, before TensorFlow loads.
    cfg = TrainConfig(arch=args.arch, task=args.task, epochs=args.epochs, image_size=args.image_size,
                      seed=args.seed)
    from pneumolab.models.files import update_card
    from pneumolab.training.run import train

    result = train(cfg, args.data, args.out)
    card = update_card(result.folder, command=args.command_line)
    print(f"Saved {card.name} to {result.folder}")
    print(f"epochs: {card.training.epochs_run} (best {card.training.best_epoch}), "
          f"{card.training.seconds_per_epoch} s per epoch")
    if card.threshold is not None:
        val = card.report("val")
        print(f"threshold chosen on validation: {card.threshold:.3f} (recall {val['recall']:.3f}, "
              f"specificity {val['specificity']:.3f}, ROC AUC {val['roc_auc']:.3f})")
    return 0


@command("ensemble")
def _ensemble(args: argparse.Namespace) -> int:
    from pneumolab.training.ensemble import assemble

    _, card = assemble(args.members, args.out, args.data, command=args.command_line)
    val = card.report("val_shifted")
    print(f"Saved the ensemble of {len(card.members)} members to {args.out}; threshold {card.threshold:.3f} "
          f"(on validation with perturbed copies: recall {val['recall']:.3f}, specificity "
          f"{val['specificity']:.3f}, ROC AUC {val['roc_auc']:.3f})")
    return 0


@command("evaluate")
def _evaluate(args: argparse.Namespace) -> int:
    from pneumolab.inference.scoring import score_model

    result = score_model(args.model, args.split, args.data, args.threshold, ci=not args.no_ci,
                         skip_bad=args.skip_bad)
    if args.update_card:
        from pneumolab.models.files import load_card, resolve, save_card

        folder = resolve(args.model)
        save_card(folder, load_card(folder).with_report(args.split, result))
    if args.json and _write_json(result, args.json):
        return 0
    left_out = len(result.get("left_out", ()))
    print(f"{result['model']} on {result['split']} ({result['images']} images"
          + (f"; {left_out} unreadable left out" if left_out else "") + ")")
    intervals = result.get("ci") or {}
    for name in ("accuracy", "recall", "precision", "specificity", "f1", "roc_auc", "pr_auc",
                 "macro_f1", "macro_roc_auc"):
        if name in result:
            print(f"  {name:<14}{_with_interval(result[name], intervals.get(name))}")
    for label, scores in result.get("per_class", {}).items():
        bounds = intervals.get("per_class", {}).get(label, {})
        print(f"  {label}: " + ", ".join(f"{key} {_with_interval(scores[key], bounds.get(key))}"
                                         for key in ("recall", "precision", "roc_auc")))
    if result.get("threshold") is not None:
        print(f"  threshold   {result['threshold']:.3f}")
    print(f"  confusion matrix (rows true, columns predicted): {result['confusion_matrix']}")
    return 0


@command("predict")
def _predict(args: argparse.Namespace) -> int:
    from pneumolab.data.reader import NOT_A_FILM
    from pneumolab.inference import runtime
    from pneumolab.inference.predict import BATCH_SIZE, ImageError, load_image
    from pneumolab.models.files import resolve

    model = runtime.load(resolve(args.model), args.runtime)
    channels = model.card.input.channels
    results: list[dict] = []
    lines: list[str] = []
    for start in range(0, len(args.images), BATCH_SIZE):
        answered, images = [], []
        for name in args.images[start : start + BATCH_SIZE]:
            try:
                loaded = load_image(Path(name).read_bytes(), name, channels)
            except (ImageError, OSError) as error:
                reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
                print(f"pneumolab predict: {name}: {reason}", file=sys.stderr)
                results.append({"file": name, "error": reason})
                continue
            for note in loaded.notes:
                print(f"pneumolab predict: {name}: {note}", file=sys.stderr)
            results.append({"file": name} | ({"warnings": list(loaded.warnings)} if loaded.warnings else {}))
            answered.append(results[-1])
            images.append(loaded.pixels)
        for entry, answer in zip(answered, model.predict_images(images, args.threshold), strict=True):
            # Full precision: rounding would tie the many scores near 1 and change the ROC AUC.
            entry.update(probability=float(answer.probability), label=answer.label)
            lines.append(f"{entry['file']}: P(pneumonia) {answer.probability:.4f} at threshold "
                         f"{answer.threshold:.4f} -> {answer.label} ({answer.confidence})")
            lines += [f"  warning: {NOT_A_FILM}: {text}" for text in entry.get("warnings", ())]
    if not (args.json and _write_json(results, args.json)):
        print("\n".join(lines))
    return 1 if any("error" in entry for entry in results) else 0


@command("panel")
def _panel(args: argparse.Namespace) -> int:
    from pneumolab.inference import serving
    from pneumolab.models import files as model_files
    from pneumolab.widgets import panel_server

    notebook = config.repository_root() / "notebooks" / "panel.ipynb"
    if not notebook.is_file():
        raise FileNotFoundError(f"No panel notebook at {notebook}; run this from a PneumoLab checkout.")
    settings = panel_server.PanelSettings(
        port=args.port, host=args.host, max_pages=args.max_pages, preheat=args.preheat,
        cull_idle_s=args.cull_after, refill_after_s=args.refill_after, open_browser=not args.no_browser,
    )
    panel_server.check_port(settings.host, settings.port)  # before a possibly long export
    folder = model_files.resolve(args.model).resolve()
    if args.runtime == "lite":
        serving.ensure_exported(folder)  # once per model, in a child process: this one stays light
    print(f"Starting the panel with the model in {folder} ({args.runtime} runtime, at most "
          f"{settings.max_pages} pages, {settings.preheat} kernels pre-heated; Ctrl-C stops it).", flush=True)
    env = {model_files.MODEL_ENV: str(folder), config.RUNTIME_ENV: args.runtime}
    return panel_server.serve(settings, notebook, env)


def _kit_lines(command: str, show: Callable) -> Callable:
    """A ``warnings.showwarning`` that prints the kit's data warnings as its own lines, others as before."""
    from pneumolab.data.manifest import DataWarning

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, DataWarning):
            print(f"pneumolab {command}: {message}", file=sys.stderr, flush=True)
        else:
            show(message, category, filename, lineno, file, line)

    return show_warning


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    """The one ``--json [PATH]`` of every subcommand: alone, JSON instead of the text; with PATH, both."""
    parser.add_argument("--json", nargs="?", const="-", type=limits.json_path, metavar="PATH",
                        help=f"{what} as JSON: to PATH, or alone: printed instead of the text")


def _add_runtime(parser: argparse.ArgumentParser, where: str = "") -> None:
    """The one ``--runtime`` of the commands that run a model: LiteRT by default, Keras on request."""
    parser.add_argument("--runtime", choices=config.RUNTIMES, default=config.RUNTIMES[0],
                        help=f"lite: the model exported to LiteRT, no TensorFlow, ~0.2 GB{where} (default); "
                             f"keras: the Keras model in TensorFlow, ~0.9 GB{where}")


def _write_json(value: object, target: str) -> bool:
    """Write ``value`` as JSON to ``target`` (``-``: stdout); True when it went to stdout."""
    text = json.dumps(value, indent=2)
    if target == "-":
        print(text)
        return True
    Path(target).write_text(text + "\n")
    return False


def _with_interval(value: float | None, bounds: list | None) -> str:
    """``0.954 [0.935, 0.971]``; the value alone when the report has no interval."""
    from pneumolab.metrics.report import interval_text

    shown = "undefined" if value is None else f"{value:.3f}"
    return f"{shown} {interval_text(bounds)}" if bounds else shown


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subparser per registered command."""
    from pneumolab.training.config import ARCHS  # TensorFlow-free, like every import before parsing

    parser = argparse.ArgumentParser(
        prog="pneumolab", description="PneumoLab: pneumonia detection on chest X-rays, for teaching."
    )
    parser.add_argument("--version", action="version", version=f"pneumolab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = sub.add_parser("info", help="count images per split and class, patients, duplicates")
    info.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA or data/chest_xray)")
    _add_json(info, "the counts")
    info.add_argument("--fast", action="store_true", help="skip decoding every image (no duplicates)")

    down = sub.add_parser("download", help="download the full data set (Kaggle, no account needed)")
    down.add_argument("source", nargs="?", choices=["kaggle", "medmnist"], default="kaggle",
                      help="kaggle (default): the full Kermany set, through kagglehub; "
                           "medmnist: PneumoniaMNIST (small, no patient ids or causes)")
    down.add_argument("--size", type=int, default=128, choices=[28, 64, 128, 224],
                      help="PneumoniaMNIST image size (default 128)")
    down.add_argument("--out", help="where to put it (default: data/ of the checkout)")
    scorer = sub.add_parser("evaluate", help="score a trained model on a split (test: the final report)")
    scorer.add_argument("--model", default=None,
                        help="model folder or 'reference' (default: $PNEUMOLAB_MODEL, else the reference)")
    scorer.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA or data/chest_xray)")
    scorer.add_argument("--split", choices=["val", "test"], default="test")
    scorer.add_argument("--threshold", type=limits.probability,
                        help="decision threshold, 0 to 1 (default: the model card's)")
    _add_json(scorer, "the full report")
    scorer.add_argument("--no-ci", action="store_true", help="skip the bootstrap confidence intervals")
    scorer.add_argument("--update-card", action="store_true",
                        help="also store the report in the model card, under the split's name")
    scorer.add_argument("--skip-bad", action="store_true",
                        help="score without the split's unreadable images (the report counts them); "
                             "by default they stop the evaluation, named")

    trainer = sub.add_parser("train", help="train a model and write it with its model card")
    trainer.add_argument("--arch", choices=ARCHS, default="scratch",
                         help="scratch: the CNN of lesson 03 (default); transfer: EfficientNet-Lite0 (04); "
                              "probe: a linear layer on frozen EfficientNet-Lite0 features")
    trainer.add_argument("--task", choices=["binary", "cause"], default="binary",
                         help="binary: normal vs pneumonia; cause: normal, bacterial, viral")
    trainer.add_argument("--epochs", type=limits.whole_number(1),
                         help="most epochs, at least 1 (early stopping may end sooner)")
    smallest = ", ".join(f"{arch} {size}" for arch, size in limits.MIN_IMAGE_SIZE.items())
    trainer.add_argument("--image-size", type=limits.whole_number(min(limits.MIN_IMAGE_SIZE.values())),
                         help=f"side of the square input (default per architecture; at least: {smallest})")
    trainer.add_argument("--seed", type=limits.whole_number(0), help="seed of the split and the training")
    trainer.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA or data/chest_xray)")
    trainer.add_argument("--out", required=True, help="folder to write the model, history and card to")
    joiner = sub.add_parser("ensemble", help="join trained yes/no models into one, calibrated on validation")
    joiner.add_argument("members", nargs="+", metavar="MODEL", help="model folders, trained on one split")
    joiner.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA or data/chest_xray)")
    joiner.add_argument("--out", required=True, help="folder to write the ensemble and its card to")
    model_help = "model folder or 'reference' (default: $PNEUMOLAB_MODEL, else the reference model)"
    predictor = sub.add_parser("predict", help="predict chest X-rays (JPEG, PNG, DICOM) with a trained model")
    predictor.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predictor.add_argument("--model", help=model_help)
    predictor.add_argument("--threshold", type=limits.probability,
                           help="decision threshold, 0 to 1 (default: the model card's)")
    _add_json(predictor, "one object per file")
    _add_runtime(predictor)
    panel = sub.add_parser("panel", help="serve the upload-and-predict web page to a class (Voila)")
    panel.add_argument("--port", type=limits.port, default=8866,
                       help="port to listen on, 1-65535 (default 8866)")
    panel.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0: the LAN)")
    panel.add_argument("--no-browser", action="store_true", help="do not open a browser")
    panel.add_argument("--model", help=model_help)
    _add_runtime(panel, " per page")
    panel.add_argument("--max-pages", type=limits.whole_number(1), default=40,
                       help="most pages open at once; later ones are told the class is full (default 40)")
    panel.add_argument("--preheat", type=limits.whole_number(0), default=2,
                       help="kernels kept ready so a page renders in seconds (default 2; 0: none)")
    panel.add_argument("--cull-after", type=limits.whole_number(10), default=120, metavar="SECONDS",
                       help="stop the kernel of a closed page after this many idle seconds (default 120)")
    panel.add_argument("--refill-after", type=limits.whole_number(0), default=60, metavar="SECONDS",
                       help="replace a used pre-heated kernel after this many seconds (default 60)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    from pneumolab.data.download import ChecksumError, DownloadRefused
    from pneumolab.data.manifest import DataNotFoundError

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)  # every argument checked here, before TensorFlow loads
    args.command_line = shlex.join(["pneumolab", *argv])
    # TensorFlow's C++ INFO and WARNING lines at run time (its start-up lines: see pneumolab._quiet).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _kit_lines(args.command, warnings.showwarning)
            return _COMMANDS[args.command](args)
    except (DataNotFoundError, ChecksumError, DownloadRefused, ValueError, OSError) as error:
        print(f"pneumolab {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
