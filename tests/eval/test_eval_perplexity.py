"""Perplexity tasks (rolling windows over whole texts) against a direct computation on a tiny
trained checkpoint, and MLM checkpoints on classification tasks."""
import math

import pytest
import torch

from roots_eval.evaluator import EvalConfig, run_task
from roots_eval.models.roots import RootsLM
from roots_eval.task import load_tasks

testing = pytest.importorskip("roots_model.testing", reason="roots_model is not available")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    model = RootsLM(testing.tiny_checkpoint(tmp_path_factory.mktemp("ckpt"), steps=10), show_progress=False)
    model.max_length = 16  # several windows per text
    return model


def direct_loglikelihood(model, tokenizer, text, window):
    """From the definition: every token predicted once, in blocks of `window` targets, from
    the `window` tokens right before each block's last target (the document start first)."""
    from roots_model.tokenizer import encode, eos_id

    stream = [eos_id(tokenizer)] + encode(tokenizer, text)
    total = 0.0
    for first in range(1, len(stream), window):
        last = min(first + window, len(stream))
        inputs = stream[max(last - 1 - window, 0):last - 1]
        logp = model(torch.tensor([inputs]))[0].double().log_softmax(-1)
        for k, t in enumerate(range(first, last)):
            total += logp[len(inputs) - (last - first) + k, stream[t]].item()
    return total


@pytest.mark.parametrize("task_name, word_count", [
    ("lm_flores200_en", lambda t: len(t.split())),
    ("lm_flores200_zh", None),
])
def test_bits_per_byte_and_perplexities_match_a_direct_computation(lm, task_name, word_count):
    import jieba

    task = load_tasks(task_name)[0][0]
    result = run_task(lm, task, EvalConfig(limit=4, bootstrap_iters=20))
    docs = task.select(task.load_docs(), 4)
    texts = [d[task.language] for d in docs]
    ll = sum(direct_loglikelihood(lm.model, lm.tokenizer, t, 16) for t in texts)
    n_bytes = sum(len(t.encode()) for t in texts)
    words = sum(word_count(t) if word_count else len([w for w in jieba.cut(t) if w.strip()]) for t in texts)
    metrics = result["metrics"]
    assert metrics["bits_per_byte"]["value"] == pytest.approx(-ll / n_bytes / math.log(2), rel=1e-5)
    assert metrics["byte_perplexity"]["value"] == pytest.approx(math.exp(-ll / n_bytes), rel=1e-5)
    assert metrics["word_perplexity"]["value"] == pytest.approx(math.exp(-ll / words), rel=1e-5)
    assert metrics["bits_per_byte"]["stderr"] > 0
    assert result["primary_metric"] == "bits_per_byte" and result["n"] == 4


def test_mlm_checkpoint_scores_classification_and_refuses_perplexity(tmp_path):
    from roots_model.train import pretrain

    pretrain(testing.tiny_train_config(tmp_path, steps=3, objective="mlm", seq_len=64, batch_size=4))
    lm = RootsLM(tmp_path, show_progress=False)
    assert lm.is_encoder
    task = load_tasks("cls_sst2")[0][0]
    result = run_task(lm, task, EvalConfig(limit=6, bootstrap_iters=10))
    assert 0 <= result["metrics"]["accuracy"]["value"] <= 100
    # the masked score of a continuation, from its definition
    from roots_eval.models.base import LoglikelihoodRequest

    request = LoglikelihoodRequest("The film was great. Sentiment:", " positive")
    tokens, n = lm._tokenize_pair(request)
    expected = 0.0
    for k in range(n):
        row = list(tokens)
        for j in range(len(tokens) - n + k, len(tokens)):
            row[j] = lm.config.mask_token_id
        pos = len(tokens) - n + k
        expected += lm.model(torch.tensor([row]))[0, pos].float().log_softmax(-1)[tokens[pos]].item()
    assert lm.loglikelihood([request])[0][0] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(NotImplementedError, match="decoder"):
        lm.loglikelihood_rolling(["text"])


def test_cli_runs_perplexity_tasks_through_the_output_cache(lm, tmp_path):
    import json

    from roots_eval.cli import main

    args = ["run", "--model", str(lm.path), "--tasks", "lm_flores200_zh,lm_flores200_en", "--limit", "2",
            "--bootstrap-iters", "10", "--output", str(tmp_path / "r.json")]
    assert main(args) == 0
    first = json.loads((tmp_path / "r.json").read_text())
    assert first["errors"] == {} and first["timings"]["cache_misses"] == 4
    assert main(args) == 0  # the second run answers from the cache, with the same numbers
    again = json.loads((tmp_path / "r.json").read_text())
    assert again["timings"]["cache_hits"] == 4
    assert again["results"]["lm_flores200_zh"]["metrics"] == first["results"]["lm_flores200_zh"]["metrics"]
