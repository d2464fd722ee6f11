"""Byte-level BPE on the real zh+en corpus: exact round trips, compression, bad input."""
import json

import pytest

from roots_model.data import DataError
from roots_model.testing import corpus_slice, tiny_workspace
from roots_model.tokenizer import EOS, TokenizerError, encode, eos_id, load_tokenizer, train_from_corpus, train_tokenizer

SAMPLES = [
    "北京大学是中国著名的高等学府，创建于1898年。",
    "這間酒店環境和服務態度亦算不錯,但房間空間太小~~",
    "The quick brown fox doesn't jump over 12,345 lazy dogs.\n\n  Indented line\twith tab",
    "混合 mixed 文本 with emoji 🤖🎉 and 日本語のテキスト, Ünïcödé!",
    "",
]


@pytest.fixture(scope="module")
def workspace():
    return tiny_workspace()


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_is_exact(workspace, text):
    tokenizer = load_tokenizer(workspace.tokenizer)
    assert tokenizer.decode(encode(tokenizer, text)) == text


def test_special_token_and_chinese_merges(workspace):
    tokenizer = load_tokenizer(workspace.tokenizer)
    assert tokenizer.get_vocab_size() == 2048
    assert eos_id(tokenizer) == 0 and tokenizer.id_to_token(0) == EOS
    assert encode(tokenizer, EOS) != [0]  # text never turns into the special token by accident
    # Common Chinese words are single tokens, not 3 bytes per character.
    ids = encode(tokenizer, "我们的")
    assert len(ids) < 3


def test_report_has_chars_per_token_for_zh_and_en(workspace):
    report = json.loads((workspace.tokenizer / "tokenizer_report.json").read_text())
    cpt = report["chars_per_token"]
    assert report["heldout_documents"]["zh"] > 10 and report["heldout_documents"]["en"] > 3
    # Raw UTF-8 bytes would give ~0.33 characters/token for Chinese and ~1 for English;
    # even this 2,048-token vocabulary must compress both well beyond that.
    assert 0.6 < cpt["zh"] < 3.0
    assert 1.5 < cpt["en"] < 6.0


def test_vocab_larger_than_the_data_supports(tmp_path):
    data = corpus_slice(tmp_path / "data", max_docs=20)
    with pytest.raises(TokenizerError, match="supports only"):
        train_from_corpus(data, tmp_path / "tok", vocab_size=50000)
    assert not (tmp_path / "tok" / "tokenizer.json").exists()


def test_tiny_and_empty_corpora(tmp_path):
    with pytest.raises(TokenizerError, match="characters"):
        train_tokenizer(["hello world"] * 3, vocab_size=300)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no \\*.parquet"):
        train_from_corpus(tmp_path / "empty", tmp_path / "tok", vocab_size=1000)
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "a.jsonl").write_text('{"id": "1", "text": "  "}\n')
    with pytest.raises(TokenizerError):
        train_from_corpus(tmp_path / "blank", tmp_path / "tok", vocab_size=1000)


def test_missing_or_broken_tokenizer_file(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="cannot read"):
        load_tokenizer(tmp_path)
