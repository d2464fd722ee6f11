"""`roots-eval` on a local Hugging Face BERT-style encoder folder (a tiny config with random
weights, saved here with save_pretrained; nothing downloaded): detected as an encoder, read
through roots_model's LanguageModel HF backend, classification tasks scored by
pseudo-log-likelihood (checked against transformers run directly), generation and perplexity
refused; a classifier fine-tuned on it is scored through its head."""
import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers", reason="optional extra roots[hf] not installed")

import torch  # noqa: E402

from roots_eval.cli import main  # noqa: E402
from roots_eval.models import LoglikelihoodRequest, load_model  # noqa: E402
from roots_model.testing import tiny_hf_model  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return tiny_hf_model("bert", tmp_path_factory.mktemp("bert") / "tiny-bert")


def _direct(bert_path, context: str, continuation: str) -> float:
    """From the definition, with transformers alone: [CLS] + context + continuation; the k-th
    continuation token is predicted with it and every continuation token after it masked."""
    tok = transformers.AutoTokenizer.from_pretrained(str(bert_path), local_files_only=True)
    model = transformers.BertForMaskedLM.from_pretrained(str(bert_path), local_files_only=True).eval()
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    assert whole[:len(ctx)] == ctx  # the pair splits at the boundary (what this check assumes)
    ids = [tok.cls_token_id] + whole
    first = 1 + len(ctx)
    total = 0.0
    with torch.no_grad():
        for k in range(first, len(ids)):
            row = ids[:k] + [tok.mask_token_id] * (len(ids) - k)
            logits = model(input_ids=torch.tensor([row]), attention_mask=torch.ones(1, len(row), dtype=torch.long)).logits
            total += logits[0, k].log_softmax(-1)[ids[k]].item()
    return total


def test_encoder_folder_is_scored_by_pseudo_loglikelihood(bert):
    model = load_model(bert, show_progress=False)
    assert model.kind == "hf-encoder" and model.metadata()["type"] == "hf-encoder"
    requests = [("这家酒店很好\n问题：这条评论的情感是正面还是负面？\n回答：", "正面"),
                ("A dull, lifeless film.\nQuestion: Is this sentence positive or negative?\nAnswer:", " negative")]
    scores = model.loglikelihood([LoglikelihoodRequest(c, x) for c, x in requests])
    for (context, continuation), (ll, _) in zip(requests, scores):
        assert ll == pytest.approx(_direct(bert, context, continuation), rel=1e-5)
    with pytest.raises(NotImplementedError, match="decoder"):
        model.generate([])
    with pytest.raises(NotImplementedError, match="decoder"):
        model.loglikelihood_rolling(["text"])


def test_cli_classification_on_an_encoder_folder(bert, tmp_path):
    out = tmp_path / "bert.json"
    assert main(["run", "--model", str(bert), "--tasks", "cls_sst2,cls_chnsenticorp", "--limit", "6",
                 "--bootstrap-iters", "0", "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["model"]["type"] == "hf-encoder"
    for task in ("cls_sst2", "cls_chnsenticorp"):
        entry = results["results"][task]
        assert entry["n"] == 6 and 0 <= entry["metrics"]["accuracy"]["value"] <= 100


def test_a_classifier_finetuned_on_an_encoder_folder_is_scored_through_its_head(bert, tmp_path):
    from roots_model.lm import LanguageModel

    lm = LanguageModel.from_pretrained(bert)
    clf = lm.finetune(["good film", "bad film", "great fun", "awful"], [1, 0, 1, 0], epochs=1, batch_size=2,
                      progress=False)
    assert clf.pooling == "mean"
    clf.save_pretrained(tmp_path / "bert-clf")
    out = tmp_path / "clf.json"
    assert main(["run", "--model", str(tmp_path / "bert-clf"), "--tasks", "cls_sst2", "--limit", "6",
                 "--bootstrap-iters", "0", "--output", str(out)]) == 0
    entry = json.loads(out.read_text())["results"]["cls_sst2"]
    assert entry["scoring"] == "classifier_head" and entry["n"] == 6
