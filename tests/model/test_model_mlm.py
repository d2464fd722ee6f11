"""Masked-LM pretraining: masking statistics against their definition, whole words from
jieba, a bidirectional model, the loss falling, and exact resume through the one loop."""
import json
import math

import pytest
import torch

from roots_model import checkpoint
from roots_model.cli import main
from roots_model.data import PackedSequences
from roots_model.mlm import IGNORE, MaskedLM, WordGroups, mlm_model_overrides
from roots_model.model import GPT, preset
from roots_model.testing import read_metrics, tiny_train_config, tiny_workspace
from roots_model.tokenizer import load_tokenizer
from roots_model.train import ConfigError, pretrain

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(tiny_workspace().tokenizer)


def windows(n=64, seq_len=128):
    data = PackedSequences(tiny_workspace().tokens, "train", seq_len, seed=0)
    return data.batch(0, n)[0]


def test_token_masking_is_15_percent_split_80_10_10(tok):
    mask_id = mlm_model_overrides(tok.get_vocab_size())["mask_token_id"]
    objective = MaskedLM(tok, mask_id, whole_word=False)
    x = windows()
    torch.manual_seed(0)
    inputs, targets = objective.corrupt(x)
    chosen = targets != IGNORE
    eos = tok.token_to_id("<|endoftext|>")
    # 15% of each window (round(0.15 * 128) = 19 positions), minus any document separator
    per_row = chosen.sum(1)
    assert per_row.max() == 19 and per_row.float().mean() > 18
    assert not chosen[x == eos].any()
    assert torch.equal(targets[chosen], x[chosen])  # targets are the original tokens
    assert torch.equal(inputs[~chosen], x[~chosen])  # nothing else changes
    n = chosen.sum().item()
    masked = (inputs[chosen] == mask_id).sum().item() / n
    kept = (inputs[chosen] == x[chosen]).sum().item() / n
    # binomial s.e. with n ~ 1200: 0.011 (80%), 0.009 (10%); 4 s.e. bounds
    assert abs(masked - 0.8) < 0.05
    assert abs(kept - 0.1) < 0.04  # a random replacement equal to the original is rare (1/2048)
    assert abs(1 - masked - kept - 0.1) < 0.04
    assert inputs[chosen & (inputs != mask_id)].max() < tok.get_vocab_size()  # replacements are real tokens
    # dynamic: the next draw masks other positions
    assert not torch.equal(objective.corrupt(x)[1] != IGNORE, chosen)


def test_whole_word_groups_follow_jieba_words(tok):
    words = WordGroups(tok)
    text = "北京是中华人民共和国的首都。The workings of hello world"
    ids = tok.encode(text, add_special_tokens=False).ids
    groups = words(ids)
    by_group = {}
    for i, g in zip(ids, groups):
        by_group.setdefault(g, []).append(i)
    spelled = [tok.decode(group).strip() for group in by_group.values()]
    # jieba's words, each made of whole tokens (a byte-level token split inside a character
    # still lands in the word that character belongs to)
    assert spelled[:6] == ["北京", "是", "中华人民共和国", "的", "首都", "。"]
    assert "workings" in spelled and "hello" in spelled


def test_whole_word_masking_masks_words_whole(tok):
    mask_id = mlm_model_overrides(tok.get_vocab_size())["mask_token_id"]
    objective = MaskedLM(tok, mask_id, whole_word=True)
    x = windows(16)
    torch.manual_seed(1)
    _, targets = objective.corrupt(x)
    chosen = targets != IGNORE
    assert abs(chosen.float().mean().item() - 0.15) < 0.03
    eos = tok.token_to_id("<|endoftext|>")
    for row, picked in zip(x, chosen):
        groups = torch.tensor(objective.words(row.tolist()))
        for g in groups.unique():
            members = (groups == g) & (row != eos)
            # a word is chosen entirely or not at all
            assert picked[members].all() or not picked[members].any()


def test_bidirectional_model_sees_the_future():
    config = preset("tiny", 256, causal=False)
    model = GPT(config).eval()
    a = torch.tensor([[1, 2, 3, 4]])
    b = torch.tensor([[1, 2, 3, 9]])
    # changing the last token changes the first position's output (a causal model's does not)
    assert not torch.allclose(model(a)[0, 0], model(b)[0, 0])
    causal = GPT(preset("tiny", 256)).eval()
    assert torch.allclose(causal(a)[0, 0], causal(b)[0, 0])
    # with a padding mask, the padded key is ignored in both directions
    padded = torch.tensor([[1, 2, 3, 0]])
    mask = torch.tensor([[True, True, True, False]])
    assert torch.allclose(model.hidden_states(padded, key_padding_mask=mask)[0, :3],
                          model.hidden_states(torch.tensor([[1, 2, 3]]))[0], atol=1e-5)


def test_mlm_loss_falls_and_checkpoint_is_an_encoder(tmp_path):
    pretrain(tiny_train_config(tmp_path, steps=80, objective="mlm", eval_interval=40))
    records = read_metrics(tmp_path)
    assert records[-1]["loss"] < records[0]["loss"] - 0.5
    val = [r["val_loss"] for r in records if r.get("val_loss") is not None]
    assert len(val) == 2 and val[-1] < val[0] and val[-1] < math.log(2048) - 0.5
    loaded = checkpoint.load(tmp_path)
    assert loaded.config.causal is False and loaded.config.mask_token_id == 2048
    state = json.loads((checkpoint.resolve(tmp_path) / checkpoint.STATE_JSON).read_text())
    assert state["train_config"]["objective"] == "mlm"


def test_mlm_resume_after_kill_repeats_the_same_losses(tmp_path):
    common = dict(steps=6, seq_len=64, batch_size=4, log_interval=1, eval_interval=3, checkpoint_interval=3,
                  objective="mlm", dropout=0.1)
    pretrain(tiny_train_config(tmp_path / "straight", **common))
    assert pretrain(tiny_train_config(tmp_path / "killed", stop_after_step=4, **common))["step"] == 4
    pretrain(tiny_train_config(tmp_path / "killed", resume=True, **common))
    straight, again = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "killed")
    assert [r["step"] for r in again] == list(range(1, 7))
    # the masks and dropout after the checkpoint are drawn from the restored RNG: bit for bit
    for key in ("loss", "grad_norm", "val_loss"):
        assert [r.get(key) for r in again] == [r.get(key) for r in straight], key
    # an AR resume of an MLM run is refused, with the difference named
    with pytest.raises(ConfigError, match="objective"):
        pretrain(tiny_train_config(tmp_path / "killed", resume=True, **{**common, "objective": "ar", "steps": 9}))


def test_cli_objective_mlm(tmp_path, capsys):
    ws = tiny_workspace()
    rc = main(["pretrain", "--objective", "mlm", "--data", str(ws.tokens), "--tokenizer", str(ws.tokenizer),
               "--output", str(tmp_path), "--max-steps", "2", "--batch-size", "2", "--seq-len", "32",
               "--log-interval", "1", "--no-progress", "--no-tensorboard"])
    assert rc == 0
    assert checkpoint.load(tmp_path).config.causal is False
