"""Rows through Hugging Face `datasets`, the way lm-evaluation-harness and the HF Trainer
read data: anything `datasets.load_dataset` takes, as one list of dicts.

    load_rows("train.jsonl")                       # local json/jsonl(.gz), parquet or csv file
    load_rows("saved/")                            # a folder written by Dataset(Dict).save_to_disk
    load_rows({"path": "json", "data_files": "a/*.jsonl", "split": "train"})
    load_rows({"path": "glue", "name": "sst2", "split": "validation"})   # a hub id, where a network exists

`roots-train finetune --data` and task YAML (`dataset: {load_dataset: ...}`) use it.
Offline (HF_DATASETS_OFFLINE=1) only local sources resolve.
"""
from __future__ import annotations

from pathlib import Path

BUILDERS = {".json": "json", ".jsonl": "json", ".gz": "json", ".parquet": "parquet", ".csv": "csv", ".tsv": "csv"}


def load_rows(source, split: str | None = None) -> list[dict]:
    import datasets

    if isinstance(source, dict):
        spec = dict(source)
        spec.setdefault("split", split or "train")
        return _rows(datasets.load_dataset(**spec))
    path = Path(source)
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            name = split or ("train" if "train" in loaded else next(iter(loaded)))
            loaded = loaded[name]
        return _rows(loaded)
    files = sorted(p for p in path.iterdir() if p.suffix in BUILDERS) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no json, jsonl, parquet or csv file, and not a save_to_disk folder")
    builder = BUILDERS.get(files[0].suffix)
    if builder is None:
        raise ValueError(f"{path}: unknown data file type {files[0].suffix!r} (json, jsonl, parquet, csv)")
    kwargs = {"delimiter": "\t"} if files[0].suffix == ".tsv" else {}
    return _rows(datasets.load_dataset(builder, data_files=[str(f) for f in files], split=split or "train", **kwargs))


def _rows(dataset) -> list[dict]:
    return dataset.to_list()
