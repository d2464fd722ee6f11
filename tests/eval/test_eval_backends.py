"""Torch backends on a SentencePiece-style model built here (a Unigram tokenizer with Llama's
"▁" normalizer, trained with `tokenizers` on real SST-2 and FLORES text; a tiny random Llama): continuation tokens come from the
whole string, the output cache keys on everything that changes outputs, the dtype and device are
recorded as they really are, and --batch-size auto is used with the cache on."""
import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers", reason="optional extra roots[hf] not installed")

import torch  # noqa: E402
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402

from pipelines.datadir import dataset_path  # noqa: E402
from roots_eval.cache import CachedModel, OutputCache  # noqa: E402
from roots_eval.cli import main  # noqa: E402
from roots_eval.models import LoglikelihoodRequest, load_model  # noqa: E402
from roots_eval.models import torch_lm  # noqa: E402
from roots_eval.models.hf import HFCausalLM  # noqa: E402
from roots_eval.models.torch_lm import choose_dtype  # noqa: E402

REQUESTS = [
    LoglikelihoodRequest("The movie was", " great"),
    LoglikelihoodRequest("The movie was", " terrible and boring"),
    LoglikelihoodRequest("it 's a charming and often affecting journey .\nQuestion: Is this sentence positive or negative?\nAnswer:",
                         " positive"),
    LoglikelihoodRequest("Answer: ", "negative"),  # the context's trailing space belongs to the continuation
    LoglikelihoodRequest("", "a film"),
]


def _training_texts(n=600):
    sst2 = (dataset_path("cls_sst2") / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    flores = (dataset_path("mt_flores200_zh_en") / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    return [json.loads(line)["text"] for line in sst2] + [json.loads(line)["en"] for line in flores] + \
        ["Question: Is this sentence positive or negative?\nAnswer:"]


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    """A local folder with a SentencePiece-style tokenizer and a tiny randomly initialised Llama.
    The tokenizer is built as Llama's fast tokenizer is: the normalizer puts "▁" before the text
    and for every space, pieces do not cross a "▁" word start. So " great" alone is "▁▁great" and
    gains a lone "▁" piece that running text never has."""
    folder = tmp_path_factory.mktemp("sp_llama")
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(_training_texts(), trainers.UnigramTrainer(
        vocab_size=1000, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>", show_progress=False))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    config = transformers.LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # larger weights than the default init: log-probs far from uniform
        for p in model.parameters():
            p.mul_(5.0)
    model.save_pretrained(folder)
    return folder


def _independent_loglikelihood(folder, context, continuation):
    """Straight from transformers: encode context+continuation once, run [BOS] + tokens, and sum
    the log-probs of the tokens that start at or after the end of the context's text."""
    tok = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32).eval()
    whole = context + continuation
    enc = tok(whole, add_special_tokens=False, return_offsets_mapping=True)
    boundary = len(context.rstrip())
    first = next(k for k, (start, _) in enumerate(enc["offset_mapping"]) if start >= boundary)
    ids = [tok.bos_token_id] + enc["input_ids"]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
    targets = list(range(first + 1, len(ids)))  # positions in ids; predicted from position - 1
    total = sum(float(logprobs[t - 1, ids[t]]) for t in targets)
    greedy = all(int(logprobs[t - 1].argmax()) == ids[t] for t in targets)
    return total, greedy, [tok.convert_ids_to_tokens(ids[t]) for t in targets]


def test_the_tokenizer_is_sentencepiece_style(sp_model):
    """The trap exists: encoded alone, " great" carries a piece running text never has."""
    model = HFCausalLM(sp_model, show_progress=False)
    alone = model.tokenizer.convert_ids_to_tokens(model.encode(" great"))
    in_text = model.tokenizer.convert_ids_to_tokens(model.encode("The movie was great"))
    assert alone[0] == "▁" and alone[1:] == in_text[-len(alone) + 1:]


def test_continuation_tokens_come_from_the_whole_string(sp_model):
    model = HFCausalLM(sp_model, batch_size=2, show_progress=False)
    got = model.loglikelihood(REQUESTS)
    for request, (ll, greedy) in zip(REQUESTS, got):
        want, want_greedy, pieces = _independent_loglikelihood(sp_model, request.context, request.continuation)
        assert ll == pytest.approx(want, rel=1e-5, abs=1e-4), (request, pieces)
        assert greedy == want_greedy


# -- output cache ------------------------------------------------------------------------------
class PatchedHF(HFCausalLM):
    """Scoring code that lives in another module: stands for a scoring fix."""


def _misses(cache_path, model):
    cached = CachedModel(model, OutputCache(cache_path), show_progress=False)
    cached.loglikelihood(REQUESTS)
    cached.cache.close()
    return cached.misses


def test_cache_key_holds_code_options_dtype_and_device(sp_model, tmp_path, monkeypatch):
    path = tmp_path / "cache.sqlite"
    n = len(REQUESTS)
    assert _misses(path, HFCausalLM(sp_model, show_progress=False)) == n
    assert _misses(path, HFCausalLM(sp_model, show_progress=False, batch_size=3)) == 0  # same settings hit
    assert _misses(path, HFCausalLM(sp_model, show_progress=False, prepend_bos=False)) == n
    assert _misses(path, HFCausalLM(sp_model, show_progress=False, dtype="bfloat16")) == n
    assert _misses(path, PatchedHF(sp_model, show_progress=False)) == n
    with monkeypatch.context() as patch:  # another kind of device (no GPU here: only its name changes)
        patch.setattr(torch_lm, "device_kind", lambda device: "cuda:NVIDIA H200")
        assert _misses(path, HFCausalLM(sp_model, show_progress=False)) == n
    # and each of those is now cached under its own key
    assert _misses(path, HFCausalLM(sp_model, show_progress=False, prepend_bos=False)) == 0
    assert _misses(path, HFCausalLM(sp_model, show_progress=False, dtype="bfloat16")) == 0
    assert _misses(path, HFCausalLM(sp_model, show_progress=False)) == 0


# -- precision, device, batch size -------------------------------------------------------------
def test_dtype_choice():
    assert choose_dtype("auto", "cuda", "bfloat16") == torch.bfloat16  # trained in bf16: scored in bf16 on GPU
    assert choose_dtype("auto", "cuda:1", "torch.bfloat16") == torch.bfloat16
    assert choose_dtype("auto", "cuda", "float32") == torch.float32
    assert choose_dtype("auto", "cpu", "bfloat16") == torch.float32
    assert choose_dtype("float16", "cpu", None) == torch.float16
    with pytest.raises(ValueError, match="dtype"):
        choose_dtype("int4", "cpu", None)


@pytest.mark.parametrize("flag,expected", [(None, torch.float32), ("bfloat16", torch.bfloat16)])
def test_results_record_the_real_dtype_and_device(sp_model, tmp_path, flag, expected):
    bf16 = tmp_path / "bf16_model"  # saved in bf16: config.json says so; on CPU "auto" still scores in fp32
    HFCausalLM(sp_model, show_progress=False, dtype="bfloat16").model.save_pretrained(bf16)
    transformers.AutoTokenizer.from_pretrained(sp_model, local_files_only=True).save_pretrained(bf16)
    assert json.loads((bf16 / "config.json").read_text())["dtype"] == "bfloat16"
    output = tmp_path / "r.json"
    extra = ["--dtype", flag] if flag else []
    rc = main(["run", "--model", str(bf16), "--tasks", "cls_sst2", "--limit", "3", "--output", str(output),
               "--device", "cpu", "--bootstrap-iters", "10", *extra])
    assert rc == 0
    data = json.loads(output.read_text(encoding="utf-8"))
    loaded = load_model(bf16, device="cpu", dtype=flag or "auto")
    assert next(loaded.model.parameters()).dtype == expected  # what the run really used
    assert data["model"]["dtype"] == str(expected).replace("torch.", "") and data["model"]["device"] == "cpu"
    assert data["config"]["dtype"] == (flag or "auto")


class _BatchLog:
    """Wraps forward_logits: records every real batch size and fails like a full GPU above `limit`."""

    def __init__(self, model, limit):
        self.sizes, self.limit, self.forward = [], limit, model.forward_logits

    def __call__(self, ids):
        if ids.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError(f"simulated: batch {ids.shape[0]} > {self.limit}")
        self.sizes.append(ids.shape[0])
        return self.forward(ids)


def test_auto_batch_size_is_used_with_the_cache_on(sp_model, tmp_path, monkeypatch):
    requests = [LoglikelihoodRequest(f"review {i}: the movie was", " great" if i % 2 else " bad") for i in range(300)]
    model = HFCausalLM(sp_model, batch_size="auto", show_progress=False)
    log = _BatchLog(model, limit=150)
    monkeypatch.setattr(model, "forward_logits", log)
    monkeypatch.setattr(model, "probes_memory", lambda: True)  # the GPU path, on CPU
    cached = CachedModel(model, OutputCache(tmp_path / "c.sqlite"), show_progress=False)
    got = cached.loglikelihood(requests)
    assert model.batch_size == 128  # 256 ran out of memory, 128 fits
    assert max(log.sizes) == 128 and log.sizes.count(128) >= 2  # not capped at the cache's 64-request chunks
    want = HFCausalLM(sp_model, batch_size=7, show_progress=False).loglikelihood(requests)
    assert [g for _, g in got] == [g for _, g in want]
    assert [ll for ll, _ in got] == pytest.approx([ll for ll, _ in want], abs=1e-4)


def test_an_out_of_memory_batch_after_the_probe_is_retried_smaller(sp_model, monkeypatch):
    model = HFCausalLM(sp_model, batch_size="auto", show_progress=False)
    requests = [LoglikelihoodRequest("short", " one")] * 3 + [LoglikelihoodRequest("a much longer context " * 8, " two")] * 20
    calls = []

    def forward(ids, original=model.forward_logits):
        calls.append(tuple(ids.shape))
        if ids.numel() > 16 * 40 and len(calls) > 1:  # the probe passed; a later, wider batch does not fit
            raise torch.cuda.OutOfMemoryError("simulated")
        return original(ids)

    monkeypatch.setattr(model, "forward_logits", forward)
    monkeypatch.setattr(model, "probes_memory", lambda: True)
    monkeypatch.setattr(torch_lm, "AUTO_BATCH_START", 16)
    got = model.loglikelihood(requests)
    want = HFCausalLM(sp_model, batch_size=4, show_progress=False).loglikelihood(requests)
    assert [ll for ll, _ in got] == pytest.approx([ll for ll, _ in want], abs=1e-4)
    assert model.batch_size < 16
