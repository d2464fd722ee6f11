"""Rows through Hugging Face `datasets`, the way lm-evaluation-harness and the HF Trainer
read data: anything `datasets.load_dataset` takes, as one list of dicts.

    load_rows("train.jsonl")                       # local json/jsonl(.gz), parquet or csv file
    load_rows("saved/")                            # a folder written by Dataset(Dict).save_to_disk
    load_rows({"path": "json", "data_files": "a/*.jsonl", "split": "train"})
    load_rows({"path": "glue", "name": "sst2", "split": "validation"})   # a hub id, where a network exists

`roots-train pretrain/finetune --data` and every task's data (`dataset: {name, file}` or
`dataset: {load_dataset: ...}`) go through it. On the command line a source is a path, a
hub id, or a JSON mapping of load_dataset arguments (`parse_source`).
Offline (HF_DATASETS_OFFLINE=1) only local sources resolve.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

BUILDERS = {".json": "json", ".jsonl": "json", ".gz": "json", ".parquet": "parquet", ".csv": "csv", ".tsv": "csv"}
SAVED_MARKERS = ("dataset_info.json", "dataset_dict.json")


def parse_source(arg: str):
    """A --data argument: '{"path": "json", ...}' is a load_dataset mapping, anything else a
    path or hub id."""
    return json.loads(arg) if arg.lstrip().startswith("{") else arg


def is_saved_folder(path) -> bool:
    path = Path(path)
    return path.is_dir() and any((path / marker).exists() for marker in SAVED_MARKERS)


def load_rows(source, split: str | None = None) -> list[dict]:
    return load(source, split).to_list()


def load(source, split: str | None = None):
    """The `datasets.Dataset` of a source (one split)."""
    import datasets

    # a bar per small local file ("Generating train split") is noise in eval and train logs
    shown = not datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        return _load(datasets, source, split)
    finally:
        if shown:
            datasets.enable_progress_bars()


def _load(datasets, source, split):
    if isinstance(source, dict):
        spec = dict(source)
        spec.setdefault("split", split or "train")
        return datasets.load_dataset(**spec)
    path = Path(source)
    if not path.exists() and path.suffix not in BUILDERS and not str(source).startswith((".", "/", "~")):
        return datasets.load_dataset(str(source), split=split or "train")  # a hub id
    if is_saved_folder(path):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            name = split or ("train" if "train" in loaded else next(iter(loaded)))
            loaded = loaded[name]
        return loaded
    files = sorted(p for p in path.iterdir() if p.suffix in BUILDERS) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no json, jsonl, parquet or csv file, and not a save_to_disk folder")
    builder = BUILDERS.get(files[0].suffix)
    if builder is None:
        raise ValueError(f"{path}: unknown data file type {files[0].suffix!r} (json, jsonl, parquet, csv)")
    kwargs = {"delimiter": "\t"} if files[0].suffix == ".tsv" else {}
    return datasets.load_dataset(builder, data_files=[str(f) for f in files], split=split or "train", **kwargs)


def write_documents(source, folder, text_field: str = "text") -> Path:
    """The rows of a datasets source as `folder/documents.jsonl` (id, text), the document
    format `roots_model.documents` reads. The file is replaced only when its content
    changes: its size and mtime are what the token shards' manifest, and so a resumed
    run's data check, compare."""
    dataset = load(source)
    if text_field not in dataset.column_names:
        raise ValueError(f"{source}: no {text_field!r} column (columns: {', '.join(dataset.column_names)})")
    columns = [c for c in ("id", text_field) if c in dataset.column_names]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target, tmp = folder / "documents.jsonl", folder / ".documents.jsonl.tmp"
    digest = hashlib.sha256()
    with open(tmp, "w", encoding="utf-8") as out:
        for batch in dataset.select_columns(columns).iter(batch_size=1000):
            for i, text in enumerate(batch[text_field]):
                doc = {"text": text} if "id" not in batch else {"id": batch["id"][i], "text": text}
                line = json.dumps(doc, ensure_ascii=False) + "\n"
                out.write(line)
                digest.update(line.encode("utf-8"))
    if target.is_file() and hashlib.sha256(target.read_bytes()).digest() == digest.digest():
        tmp.unlink()
    else:
        os.replace(tmp, target)
    return target
