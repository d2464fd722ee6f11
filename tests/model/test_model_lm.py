"""`LanguageModel.from_pretrained` over every backend: ROOTS AR and MLM checkpoints and local
Hugging Face folders (GPT-2, Llama, BERT) built here from a config and random weights.
Perplexity is checked against a direct computation; each backend round-trips through
save_pretrained / from_pretrained, before and after fine-tuning."""
import math

import pytest
import torch

from roots_model.classifier import TextClassifier
from roots_model.lm import LanguageModel, rolling_windows
from roots_model.testing import tiny_hf_model, tiny_train_config
from roots_model.train import pretrain

transformers = pytest.importorskip("transformers", reason="the HF backends need the optional extra roots[hf]")
torch.set_num_threads(1)

TEXTS = ["这家酒店很好，服务周到。", "The movie was a delight from start to finish.", "房间太小了，很失望。",
         "A dull, lifeless film.", "早餐丰富，位置方便。", "I hated every minute of it."]
LABELS = ["pos", "pos", "neg", "neg", "pos", "neg"]


@pytest.fixture(scope="module")
def roots_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    out = {}
    for objective in ("ar", "mlm"):
        pretrain(tiny_train_config(root / objective, steps=4, objective=objective, seq_len=64, batch_size=4))
        out[objective] = root / objective
    return out


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {kind: tiny_hf_model(kind, root / kind) for kind in ("gpt2", "llama", "bert")}


def test_rolling_windows_score_every_token_once_with_full_context():
    tokens = list(range(100, 123))
    windows = rolling_windows(tokens, prefix=0, max_len=8)
    assert [t for _, targets in windows for t in targets] == tokens
    stream = [0] + tokens
    for inputs, targets in windows:
        assert len(inputs) <= 8
        end = stream.index(targets[-1])
        assert inputs == stream[max(end - 8, 0):end]  # the max_len tokens right before each target
    assert windows[0][0] == [0] + tokens[:7] and len(windows[1][1]) == 8


def _direct_loglikelihood(model_fn, ids, max_len):
    """From the definition: each token scored once, given the max_len tokens before it
    (document start included), in disjoint blocks of max_len targets."""
    stream = [ids[0]] + ids[1:]
    total = 0.0
    for block in range(1, len(stream), max_len):
        targets = stream[block:block + max_len]
        inputs = stream[max(block + len(targets) - 1 - max_len, 0):block + len(targets) - 1]
        logp = model_fn(torch.tensor([inputs]))[0].log_softmax(-1)
        for k, t in enumerate(targets):
            total += logp[len(inputs) - len(targets) + k, t].item()
    return total


def test_decoder_perplexity_matches_a_direct_computation(roots_models):
    lm = LanguageModel.from_pretrained(roots_models["ar"])
    assert lm.is_decoder and lm.kind == "roots"
    text = "北京是中华人民共和国的首都。" * 6
    from roots_model.tokenizer import encode, eos_id

    ids = [eos_id(lm.tokenizer)] + encode(lm.tokenizer, text)
    lm.backbone.config.block_size = 16  # force several windows (the RoPE table is longer)
    try:
        ll, n = lm.loglikelihood(text)
        direct = _direct_loglikelihood(lambda x: lm.backbone(x).float(), ids, 16)
    finally:
        lm.backbone.config.block_size = 256
    assert n == len(ids) - 1 > 40
    assert ll == pytest.approx(direct, rel=1e-5)
    ppl = lm.perplexity(text)
    assert ppl["perplexity"] == pytest.approx(math.exp(-ppl["loglikelihood"] / ppl["tokens"]))


def test_mlm_pseudo_perplexity_masks_one_token_at_a_time(roots_models):
    lm = LanguageModel.from_pretrained(roots_models["mlm"])
    assert not lm.is_decoder
    text = "这家酒店很好"
    from roots_model.tokenizer import encode, eos_id

    ids = [eos_id(lm.tokenizer)] + encode(lm.tokenizer, text)
    direct = 0.0
    for i in range(1, len(ids)):
        masked = list(ids)
        masked[i] = lm.config.mask_token_id
        direct += lm.backbone(torch.tensor([masked]))[0, i].float().log_softmax(-1)[ids[i]].item()
    ll, n = lm.loglikelihood(text)
    assert n == len(ids) - 1 and ll == pytest.approx(direct, rel=1e-5)
    assert lm.perplexity([text])["kind"] == "pseudo-perplexity"
    with pytest.raises(ValueError, match="decoder"):
        lm.generate("北京")


@pytest.mark.parametrize("backend", ["roots-ar", "roots-mlm", "gpt2", "llama", "bert"])
def test_round_trip_and_finetune(backend, roots_models, hf_models, tmp_path):
    path = roots_models[backend.split("-")[1]] if backend.startswith("roots") else hf_models[backend]
    lm = LanguageModel.from_pretrained(path)
    assert lm.kind == ("roots" if backend.startswith("roots") else "hf")
    assert lm.is_decoder == (backend not in ("roots-mlm", "bert"))
    before = lm.perplexity(TEXTS[:2])
    lm.save_pretrained(tmp_path / "copy")
    again = LanguageModel.from_pretrained(tmp_path / "copy")
    assert again.perplexity(TEXTS[:2])["loglikelihood"] == pytest.approx(before["loglikelihood"], rel=1e-5)
    if lm.is_decoder:
        assert lm.generate(["北京"], max_new_tokens=3) == again.generate(["北京"], max_new_tokens=3)
    clf = lm.finetune(TEXTS, LABELS, epochs=2, batch_size=3, progress=False)
    assert isinstance(clf, TextClassifier) and clf.labels == ["neg", "pos"]
    probs = clf.predict_proba(TEXTS)
    clf.save_pretrained(tmp_path / "clf")
    loaded = LanguageModel.from_pretrained(tmp_path / "clf")
    assert isinstance(loaded, TextClassifier)
    assert loaded.predict(TEXTS) == clf.predict(TEXTS)
    assert torch.allclose(torch.tensor(loaded.predict_proba(TEXTS)), torch.tensor(probs), atol=1e-5)


def test_padding_does_not_change_an_encoder_classifier(roots_models):
    # a bidirectional backbone must not see the right padding of a batch
    lm = LanguageModel.from_pretrained(roots_models["mlm"])
    clf = TextClassifier(lm.backbone, lm.tokenizer, ["neg", "pos"])
    torch.nn.init.normal_(clf.head.weight)
    with torch.no_grad():  # logits, not saturated probabilities
        alone = clf(*clf._batch([TEXTS[0]]))[0]
        batched = clf(*clf._batch([TEXTS[0], TEXTS[1] * 3]))[0]
    assert torch.allclose(alone, batched, atol=1e-4), (alone, batched)


def _backend_path(backend, roots_models, hf_models):
    return roots_models[backend.split("-")[1]] if backend.startswith("roots") else hf_models[backend]


@pytest.mark.parametrize("backend", ["roots-ar", "gpt2", "llama", "roots-mlm", "bert"])
def test_pooling_last_real_token_for_decoders_mean_for_encoders(backend, roots_models, hf_models):
    from roots_model.tokenizer import encode, eos_id

    lm = LanguageModel.from_pretrained(_backend_path(backend, roots_models, hf_models))
    clf = TextClassifier(lm.backbone, lm.tokenizer, ["neg", "pos"])
    assert clf.pooling == ("last" if lm.is_decoder else "mean")
    texts = [TEXTS[1], "好", TEXTS[0] * 2]  # different lengths: the shorter rows are right-padded
    idx, lengths = clf._batch(texts)
    with torch.no_grad():
        pooled = clf.pooled(idx, lengths)
        for i, text in enumerate(texts):
            # each text on its own, unpadded: the start token, then its tokens
            ids = torch.tensor([[eos_id(lm.tokenizer)] + encode(lm.tokenizer, text)])
            alone = lm.backbone.hidden_states(ids)[0]
            expected = alone[-1] if lm.is_decoder else alone.mean(dim=0)
            assert torch.allclose(pooled[i], expected, atol=1e-5), (backend, i)
        if lm.is_decoder:
            # exactly the padded batch's hidden state at the row's last real position
            hidden = lm.backbone.hidden_states(idx)
            for i, text in enumerate(texts):
                assert torch.equal(pooled[i], hidden[i, len(encode(lm.tokenizer, text))]), (backend, i)


def test_pooling_is_saved_and_old_classifiers_keep_mean_pooling(roots_models, tmp_path):
    import json

    lm = LanguageModel.from_pretrained(roots_models["ar"])
    clf = lm.finetune(TEXTS, LABELS, epochs=1, batch_size=3, progress=False)
    assert clf.pooling == "last"
    clf.save_pretrained(tmp_path / "clf")
    again = TextClassifier.load(tmp_path / "clf")
    assert again.pooling == "last"
    assert torch.allclose(torch.tensor(again.predict_proba(TEXTS)), torch.tensor(clf.predict_proba(TEXTS)), atol=1e-6)
    # a classifier saved before pooling was recorded was trained on averaged hidden states
    meta = json.loads((tmp_path / "clf" / "classifier.json").read_text())
    del meta["pooling"]
    (tmp_path / "clf" / "classifier.json").write_text(json.dumps(meta))
    assert TextClassifier.load(tmp_path / "clf").pooling == "mean"
    with pytest.raises(ValueError, match="pooling"):
        TextClassifier(lm.backbone, lm.tokenizer, ["a", "b"], pooling="max")
