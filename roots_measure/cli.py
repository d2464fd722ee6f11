"""`roots-measure` / `python -m roots_measure`.

    roots-measure train-quality --output quality.bin   # the quality classifier (defaults: shared data)

A command of its own, not a `roots-pipeline` subcommand: `roots-pipeline` is the worker
package's CLI and `pipelines` never imports this package; training needs the `measure` extra.
The model it writes is used by the pipeline through the config (`quality_model: {model: ...}`).
"""
from __future__ import annotations

import argparse
import sys

from pipelines.quality_model import QualityScorer

from .quality_model import (default_training_data, evaluate_quality, format_report, heldout_data, read_texts,
                            train_quality_model)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `roots-measure train-quality` on an argparse (sub)parser."""
    p.add_argument("--positive", action="append", default=[],
                   help="clean-text files (glob; JSONL, .jsonl.gz or one text per line); repeatable "
                        "(default: clean prose from $ROOTS_DATA_DIR)")
    p.add_argument("--negative", action="append", default=[],
                   help="junk-text files, as --positive (default: boilerplate pages and synthetic junk "
                        "from $ROOTS_DATA_DIR)")
    p.add_argument("--output", required=True, help="model file to write (fastText .bin)")
    p.add_argument("--text_field", "--text-field", default="text")
    p.add_argument("--epoch", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per_source", "--per-source", type=int, default=1500,
                   help="default data: texts per clean source and per junk family")
    p.add_argument("--threshold", type=float, default=0.5, help="threshold the held-out report uses")
    p.add_argument("--no_eval", "--no-eval", action="store_true", help="skip the held-out evaluation")


def train_main(args: argparse.Namespace) -> int:
    """`roots-measure train-quality`: train, save, and (default data) report held-out figures."""
    if bool(args.positive) != bool(args.negative):
        raise SystemExit("roots-measure train-quality: give both --positive and --negative, or neither "
                         "(for the defaults built from $ROOTS_DATA_DIR)")
    if args.positive:
        positives = read_texts(args.positive, args.text_field)
        negatives = read_texts(args.negative, args.text_field)
    else:
        positives, negatives = default_training_data(args.per_source, args.seed)
    info = train_quality_model(positives, negatives, args.output, epoch=args.epoch, seed=args.seed)
    print(f"quality model: {info['positives']} clean, {info['negatives']} junk texts -> {args.output}")
    if not args.no_eval:
        pos, neg = heldout_data()
        rep = evaluate_quality(QualityScorer(args.output), pos, neg, args.threshold)
        print(format_report(rep, "held-out sources (never trained on)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="roots-measure", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train-quality", help="train the fastText quality classifier "
                                                             "(quality_score) from clean and junk texts"))
    args = parser.parse_args(argv)
    return train_main(args)


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
