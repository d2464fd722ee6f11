"""Byte-level BPE for mixed Chinese + English text (Hugging Face `tokenizers`).

Byte-level means any string round-trips exactly and nothing is ever unknown. The
pre-tokenizer decides where merges may happen: English splits GPT-2 style (words with
their leading space, digits one by one, punctuation apart), while runs of Han characters
(and of kana) stay whole between punctuation, so BPE can learn multi-character Chinese
words instead of being cut at every character or glued to neighbouring Latin text.

"<|endoftext|>" is the only special token; it separates documents in training data and
serves as BOS, EOS and padding.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from pipelines.files import atomic_write
from roots_model.documents import guess_lang, is_heldout, iter_documents

EOS = "<|endoftext|>"
TOKENIZER_FILE = "tokenizer.json"
REPORT_FILE = "tokenizer_report.json"
MIN_TRAINING_CHARS = 2_000

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
SPLIT_PATTERN = (
    r"'(?i:[sdmt]|ll|ve|re)"  # English contractions
    rf"|[{_CJK}]+"  # a run of CJK characters, whole
    rf"|[^\r\n\p{{L}}\p{{N}}]?[^\s\p{{P}}\p{{S}}\p{{N}}{_CJK}]+"  # a word, with its leading space
    r"|\p{N}"  # digits one at a time: numbers stay learnable
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*"  # punctuation and symbols
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


class TokenizerError(ValueError):
    pass


def new_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
                    show_progress: bool = True) -> Tokenizer:
    """Train on `texts`. Raises TokenizerError when the text is too small to train on or
    cannot support `vocab_size` distinct tokens."""
    if vocab_size < 300:
        raise TokenizerError(f"vocab_size={vocab_size} is too small: 256 byte tokens + 1 special token come first")
    chars = 0

    def counted(texts):
        nonlocal chars
        for text in texts:
            chars += len(text)
            yield text

    tokenizer = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    tokenizer.train_from_iterator(counted(texts), trainer=trainer)
    tokenizer.encode_special_tokens = True
    if chars < MIN_TRAINING_CHARS:
        raise TokenizerError(f"only {chars} characters of text to train a tokenizer on; need at least {MIN_TRAINING_CHARS}")
    got = tokenizer.get_vocab_size()
    if got < vocab_size:
        raise TokenizerError(
            f"the training text ({chars:,} characters) supports only {got} tokens with min_frequency={min_frequency}, "
            f"fewer than the requested vocab size {vocab_size}; ask for --vocab-size {got} or less, or give more text")
    return tokenizer


def encode(tokenizer: Tokenizer, text: str) -> list[int]:
    """Token ids of `text`, without BOS/EOS."""
    return tokenizer.encode(text, add_special_tokens=False).ids


def eos_id(tokenizer: Tokenizer) -> int:
    token_id = tokenizer.token_to_id(EOS)
    if token_id is None:
        raise TokenizerError(f"tokenizer has no {EOS} token")
    return token_id


def tokenizer_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.is_file():
        raise TokenizerError(f"no tokenizer at {path} (train one with `roots-train tokenizer`)")
    return path


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """A tokenizer from a tokenizer.json file or a folder holding one."""
    file = tokenizer_file(path)
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as e:  # the Rust side raises a bare Exception on malformed JSON
        raise TokenizerError(f"cannot read tokenizer {file}: {e}") from None
    eos_id(tokenizer)
    # "<|endoftext|>" typed in a document is text, not a document boundary (this setting is
    # not stored in tokenizer.json, so it is made on every load).
    tokenizer.encode_special_tokens = True
    return tokenizer


def chars_per_token(tokenizer: Tokenizer, texts: list[str]) -> float:
    if not texts:
        return float("nan")
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    tokens = sum(len(e.ids) for e in encodings)
    return sum(len(t) for t in texts) / max(tokens, 1)


def train_from_corpus(data, output, vocab_size: int, heldout_fraction: float = 0.01,
                      max_chars: int | None = None, min_frequency: int = 2) -> dict:
    """`roots-train tokenizer`: train on the documents under `data` except a held-out
    slice (the same documents `prepare_tokens` holds out for validation by default), save
    to `output`/tokenizer.json and report characters per token on the held-out zh and en
    documents. Returns the report."""
    heldout: dict[str, list[str]] = {"zh": [], "en": []}
    budget = {"chars": 0}

    def training_texts():
        for doc in iter_documents(data):
            if is_heldout(doc, heldout_fraction):
                lang = guess_lang(doc)
                if lang in heldout:
                    heldout[lang].append(doc["text"])
                continue
            if max_chars is not None and budget["chars"] >= max_chars:
                continue  # keep reading: the held-out documents are spread over the corpus
            budget["chars"] += len(doc["text"])
            yield doc["text"]

    tokenizer = train_tokenizer(training_texts(), vocab_size, min_frequency=min_frequency)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / TOKENIZER_FILE, tokenizer.to_str(pretty=True))  # the bytes `tokenizer.save` writes
    report = {
        "vocab_size": tokenizer.get_vocab_size(),
        "training_chars": budget["chars"],
        "heldout_documents": {lang: len(texts) for lang, texts in heldout.items()},
        "chars_per_token": {lang: round(chars_per_token(tokenizer, texts), 3) for lang, texts in heldout.items()},
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=1))
    return report
