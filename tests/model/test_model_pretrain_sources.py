"""`roots-train pretrain --data` takes the datasets sources finetune takes (a csv file, a
save_to_disk folder, a JSON mapping of load_dataset arguments; a hub id where a network
exists), besides document and token folders. Offline, on local files written here: the token
shards must hold exactly the tokens the same documents give as a JSONL document folder, and a
resumed run must find its data unchanged."""
import json

import datasets
import numpy as np
import pytest
import torch

from roots_model.cli import main
from roots_model.data import prepare_tokens
from roots_model.testing import tiny_train_config, tiny_workspace
from roots_model.train import pretrain

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    lines = (tiny_workspace().data / "slice.jsonl").read_text(encoding="utf-8").splitlines()[:300]
    docs = [{"id": d["id"], "text": d["text"]} for d in map(json.loads, lines)]
    (root / "docs").mkdir()
    (root / "docs" / "docs.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs),
                                              encoding="utf-8")
    table = datasets.Dataset.from_list([{**d, "extra": i} for i, d in enumerate(docs)])
    table.to_csv(str(root / "docs.csv"), index=False)
    table.save_to_disk(str(root / "saved"))
    return root


def _train_tokens(folder) -> np.ndarray:
    manifest = json.loads((folder / "manifest.json").read_text())
    dtype = np.dtype(manifest["dtype"])
    return np.concatenate([np.fromfile(folder / e["shards"][split]["file"], dtype=dtype)
                           for e in manifest["files"].values() for split in ("train", "val")])


@pytest.fixture(scope="module")
def expected_tokens(sources, tmp_path_factory):
    """The same documents tokenized from the JSONL folder (the path that existed before)."""
    out = tmp_path_factory.mktemp("expected")
    prepare_tokens(sources / "docs", tiny_workspace().tokenizer, out, val_fraction=0.05, workers=1)
    return _train_tokens(out)


@pytest.mark.parametrize("kind", ["csv", "save_to_disk"])
def test_pretrain_reads_a_datasets_source_and_resumes(kind, sources, expected_tokens, tmp_path):
    data = str(sources / ("docs.csv" if kind == "csv" else "saved"))
    common = dict(data=data, batch_size=2, seq_len=32, val_fraction=0.05, checkpoint_interval=2)
    assert pretrain(tiny_train_config(tmp_path, steps=2, **common))["step"] == 2
    np.testing.assert_array_equal(_train_tokens(tmp_path / "tokens"), expected_tokens)
    documents = tmp_path / "documents" / "documents.jsonl"
    written = documents.stat().st_mtime_ns
    # the rows are read again on resume; an unchanged source leaves the document file (and so
    # the shards' fingerprint that resume checks) as it was
    assert pretrain(tiny_train_config(tmp_path, steps=3, resume=True, **common))["step"] == 3
    assert documents.stat().st_mtime_ns == written


def test_cli_pretrain_takes_a_load_dataset_mapping(sources, expected_tokens, tmp_path, capsys):
    ws = tiny_workspace()
    spec = json.dumps({"path": "csv", "data_files": str(sources / "docs.csv")})
    rc = main(["pretrain", "--data", spec, "--tokenizer", str(ws.tokenizer), "--output", str(tmp_path),
               "--max-steps", "1", "--batch-size", "2", "--seq-len", "32", "--val-fraction", "0.05",
               "--no-progress", "--no-tensorboard"])
    assert rc == 0
    np.testing.assert_array_equal(_train_tokens(tmp_path / "tokens"), expected_tokens)


def test_an_unreadable_source_is_a_clear_error(tmp_path, capsys):
    ws = tiny_workspace()
    rc = main(["pretrain", "--data", str(tmp_path / "no-such-dataset"), "--tokenizer", str(ws.tokenizer),
               "--output", str(tmp_path / "out"), "--max-steps", "1", "--no-progress", "--no-tensorboard"])
    assert rc == 2
    assert "not a document folder, token folder or readable datasets source" in capsys.readouterr().err
