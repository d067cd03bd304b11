"""Images per second of the training input pipeline: first (decoding) pass and cached pass.

    python benchmarks/input_pipeline.py [--data DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import time

from _report import report

from pneumolab.data import manifest as data
from pneumolab.preprocess.pipeline import make_dataset


def images_per_second(dataset) -> tuple[float, int]:
    start, count = time.perf_counter(), 0
    for images, _ in dataset:
        count += int(images.shape[0])
    return count / (time.perf_counter() - start), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    args = parser.parse_args()

    manifest = data.build_manifest(args.data, check=False)
    train = manifest.loc[manifest["split"] == "train"]
    if args.limit:
        train = train.sample(args.limit, random_state=0)
    rows = []
    for size, channels in [(128, 1), (128, 3), (224, 1), (224, 3)]:
        dataset = make_dataset(train, image_size=size, channels=channels, shuffle=True, cache=True)
        first, n = images_per_second(dataset)
        cached, _ = images_per_second(dataset)
        rows.append(dict(size=size, channels=channels, images=n,
                         first_pass_img_s=first, cached_pass_img_s=cached))
    report("input_pipeline", rows)


if __name__ == "__main__":
    main()
