"""`roots-train`: tokenizer, prepare, pretrain, generate, finetune, export.

    roots-train tokenizer --data out/ --vocab-size 32000 --output tok/
    roots-train prepare   --data out/ --tokenizer tok/ --output tokens/        (optional)
    roots-train pretrain  --data out/ --tokenizer tok/ --preset tiny --output ckpt/ [--max-steps N] [--resume]
                          [--objective mlm]                              (masked LM, bidirectional)
                          (--data: also a datasets source, e.g. rows.csv, a save_to_disk folder, a hub id)
    roots-train generate  --checkpoint ckpt/ --prompt "北京是" --max-new-tokens 32
    roots-train finetune  --checkpoint ckpt/ --data train.jsonl --output clf/   (fields text, label)
    roots-train export    --checkpoint ckpt/ --output hf/                       (Hugging Face Llama folder)
    roots-train quantize  --checkpoint ckpt/ --method int8-dynamic --output ckpt-int8/
    roots-train distill   --teacher ckpt/ --preset tiny --data tokens/ --output student/ [--resume]
    roots-train prune     --checkpoint ckpt/ --sparsity 0.5 --method magnitude [--finetune-steps N] --output ckpt-pruned/

Under torchrun use `python -m roots_model pretrain ...` (same arguments).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing

from pipelines.errors import ConfigError
from roots_model.checkpoint import CheckpointError
from roots_model.compress.config import REPORT_HELP, DistillConfig, PruneConfig
from roots_model.documents import DataError
from roots_model.tokenizer import TokenizerError
from roots_model.train import CORPUS_RELEASE_HELP, TrainConfig


def _flag_type(hint) -> type:
    """int for `int | None`: the type a flag's value is parsed to."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_config_flags(parser: argparse.ArgumentParser, config_cls) -> None:
    """One flag per field of the dataclass `config_cls`, in field order, from the field's type,
    default and `roots_model.train.setting` metadata: a field without a default is a required
    flag; a bool is --NAME (off by default), --NAME/--no-NAME (on or None by default) or, for
    cli="negative", --no-NAME alone; int and float fields parse to their type; choices are checked."""
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        cli, help_, choices = f.metadata.get("cli", True), f.metadata.get("help"), f.metadata.get("choices")
        if cli is False:
            continue
        kw = {"help": argparse.SUPPRESS} if cli == "hidden" else {"help": help_} if help_ is not None else {}
        if choices is not None:
            kw["choices"] = list(choices)
        name, kind = f.name.replace("_", "-"), _flag_type(hints[f.name])
        if cli == "negative":
            parser.add_argument(f"--no-{name}", action="store_true", **kw)
            continue
        if f.default is dataclasses.MISSING:
            kw["required"] = True
        elif kind is bool and f.default is False:
            kw["action"] = "store_true"
        elif kind is bool:  # on, or None (decided at run time), by default
            kw.update(action=argparse.BooleanOptionalAction, default=f.default)
        else:
            kw["default"] = f.default
        if kind in (int, float):
            kw["type"] = kind
        parser.add_argument(f"--{name}", **kw)


def config_from_args(config_cls, args: argparse.Namespace):
    """The `config_cls` the flags of `add_config_flags` were parsed into."""
    values = {}
    for f in dataclasses.fields(config_cls):
        cli = f.metadata.get("cli", True)
        if cli == "negative":
            values[f.name] = not getattr(args, "no_" + f.name)
        elif cli is not False:
            values[f.name] = getattr(args, f.name)
    return config_cls(**values)


def _tokenizer(args):
    from roots_model.tokenizer import train_from_corpus

    report = train_from_corpus(args.data, args.output, args.vocab_size, heldout_fraction=args.heldout_fraction,
                               max_chars=args.max_chars, min_frequency=args.min_frequency)
    print(json.dumps(report, indent=1))
    cpt = report["chars_per_token"]
    print(f"characters/token on held-out text: zh {cpt['zh']}, en {cpt['en']}")


def _prepare(args):
    from roots_model.data import prepare_tokens

    manifest = prepare_tokens(args.data, args.tokenizer, args.output, args.val_fraction, args.workers,
                              corpus_release=args.corpus_release)
    for split in ("train", "val"):
        tokens = sum(e["shards"][split]["tokens"] for e in manifest["files"].values())
        print(f"{split}: {tokens:,} tokens")


def _pretrain(args):
    from roots_model.train import pretrain

    result = pretrain(config_from_args(TrainConfig, args))
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(result))


def _generate(args):
    from roots_model.checkpoint import load
    from roots_model.generate import generate

    loaded = load(args.checkpoint, device=args.device)
    texts = generate(loaded.model, loaded.tokenizer, args.prompt, args.max_new_tokens, args.temperature,
                     args.top_k, args.top_p, args.stop, args.seed)
    for prompt, text in zip(args.prompt, texts):
        print(json.dumps({"prompt": prompt, "completion": text}, ensure_ascii=False))


def _finetune(args):
    from roots_model.classifier import TextClassifier
    from roots_model.hfdata import load_rows, parse_source

    # any `datasets.load_dataset` source: a json/jsonl/parquet/csv file, a save_to_disk folder,
    # a hub id, or a JSON spec such as '{"path": "json", "data_files": "train/*.jsonl"}'
    rows = load_rows(parse_source(args.data))
    clf = TextClassifier.from_pretrained(args.checkpoint, max_length=args.max_length)
    history = clf.finetune([r["text"] for r in rows], [r["label"] for r in rows], epochs=args.epochs,
                           lr=args.lr, batch_size=args.batch_size)
    clf.save(args.output)
    print(json.dumps({"epoch_losses": history, "labels": clf.labels, "output": args.output}))


def _export(args):
    from roots_model.export import export_llama

    print(export_llama(args.checkpoint, args.output))


def _print_compressed(result: dict):
    from roots_model.compress.report import summary_line

    print(json.dumps(result, indent=1, ensure_ascii=False))
    if "original" in result:
        print(summary_line(result))


def _quantize(args):
    from roots_model.compress.commands import quantize

    _print_compressed(quantize(args.checkpoint, args.output, args.method, args.data, report=not args.no_report))


def _distill(args):
    from roots_model.compress.commands import distill

    _print_compressed(distill(config_from_args(DistillConfig, args)))


def _prune(args):
    from roots_model.compress.commands import prune

    _print_compressed(prune(config_from_args(PruneConfig, args)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roots-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tokenizer", help="train a byte-level BPE tokenizer on a document folder")
    p.add_argument("--data", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--heldout-fraction", type=float, default=0.01, help="documents kept out to measure characters/token")
    p.add_argument("--max-chars", type=int, default=None, help="train on at most this many characters")
    p.add_argument("--min-frequency", type=int, default=2)
    p.set_defaults(func=_tokenizer)

    p = sub.add_parser("prepare", help="tokenize documents into token shards (pretrain does this itself)")
    p.add_argument("--data", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--val-fraction", type=float, default=0.01)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--corpus-release", default=None, help=CORPUS_RELEASE_HELP)
    p.set_defaults(func=_prepare)

    p = sub.add_parser("pretrain", help="pretrain a model (torchrun: python -m roots_model pretrain)")
    add_config_flags(p, TrainConfig)
    p.set_defaults(func=_pretrain)

    p = sub.add_parser("generate", help="continue prompts with a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--prompt", action="append", required=True)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--stop", action="append", default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_generate)

    p = sub.add_parser("finetune", help="fine-tune a classifier on rows with text and label fields (any datasets source)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=128)
    p.set_defaults(func=_finetune)

    p = sub.add_parser("export", help="write a Hugging Face transformers Llama folder")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=_export)

    p = sub.add_parser("quantize", help="int8 copy of a checkpoint for CPU inference (+ report.json)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--method", default="int8-dynamic", help="int8-dynamic")
    p.add_argument("--data", default=None, help="token folder for validation perplexity (default: the checkpoint's own)")
    p.add_argument("--no-report", action="store_true", help=REPORT_HELP)
    p.set_defaults(func=_quantize)

    p = sub.add_parser("distill", help="train a smaller student on a teacher's soft targets")
    add_config_flags(p, DistillConfig)
    p.set_defaults(func=_distill)

    p = sub.add_parser("prune", help="magnitude (unstructured) or mlp-channels (structured) pruning")
    add_config_flags(p, PruneConfig)
    p.set_defaults(func=_prune)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    from pipelines.datadir import DataDirError

    try:
        args.func(args)
    except (ConfigError, DataError, TokenizerError, CheckpointError, DataDirError) as e:
        print(f"roots-train {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
