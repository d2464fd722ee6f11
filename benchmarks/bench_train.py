"""Training throughput side by side: roots_model vs Hugging Face transformers' Llama vs
litgpt, the same decoder shape, the same step, on the same device, in one run.

    python benchmarks/bench_train.py                          # GPU: the 124M shape, bf16, eager + compiled
    python benchmarks/bench_train.py --preset tiny --steps 5  # CPU smoke run (fp32, eager)
    python benchmarks/bench_train.py --contenders roots,hf-llama --modes eager --repeat 5

What each contender runs, per step: forward on random tokens, next-token cross-entropy in
float32, backward, gradient clipping to 1.0, AdamW (fused on CUDA) - the step
roots_model.train runs, minus data loading. Shape: the preset's (layers, width, heads,
key/value heads, SwiGLU width, vocabulary padded to 64, tied embeddings, RoPE, RMSNorm); every
contender is built at that shape and its parameter count is printed so you can see they
match. bf16 autocast on CUDA, float32 on CPU; `compiled` wraps each model in torch.compile.
What differs between contenders is their own model code only: attention kernel choice
(all three call scaled_dot_product_attention), fused/unfused projections, RoPE implementation.

Contenders run in alternating order (roots, hf, litgpt; then litgpt, hf, roots; ...),
`--repeat` times each, and the median of each contender's tokens/s is reported with MFU
(bf16 dense peak of the device) and peak memory (torch.cuda.max_memory_allocated; CPU: not
measured per contender). litgpt pins huggingface_hub<1.4, which conflicts with
transformers 5, so install its model code without its dependencies:

    pip install --no-deps -r benchmarks/requirements-litgpt.txt
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from roots_model.model import GPT, flops_per_token, loss_fn, preset
from roots_model.train import PEAK_FLOPS, TrainConfig, build_optimizer


def build_roots(config):
    return GPT(config)


def build_hf_llama(config):
    from transformers import LlamaConfig, LlamaForCausalLM

    hf = LlamaConfig(vocab_size=config.vocab_size, hidden_size=config.n_embd, intermediate_size=config.intermediate_size,
                     num_hidden_layers=config.n_layer, num_attention_heads=config.n_head,
                     num_key_value_heads=config.n_kv_head, max_position_embeddings=config.block_size,
                     rms_norm_eps=config.norm_eps, rope_theta=config.rope_theta, tie_word_embeddings=config.tie_embeddings,
                     attention_bias=False, mlp_bias=False, attn_implementation="sdpa")
    model = LlamaForCausalLM(hf)
    model.config.use_cache = False
    return _LogitsOnly(model)


def build_litgpt(config):
    from litgpt.config import Config
    from litgpt.model import GPT as LitGPT

    lit = Config(n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd, n_query_groups=config.n_kv_head,
                 block_size=config.block_size, vocab_size=config.vocab_size, padded_vocab_size=config.vocab_size,
                 bias=False, rotary_percentage=1.0, parallel_residual=False, norm_class_name="RMSNorm",
                 norm_eps=config.norm_eps, mlp_class_name="LLaMAMLP", intermediate_size=config.intermediate_size,
                 rope_base=int(config.rope_theta))
    model = LitGPT(lit)
    if config.tie_embeddings:
        model.lm_head.weight = model.transformer.wte.weight
    return model


class _LogitsOnly(torch.nn.Module):
    """transformers returns a ModelOutput; the step wants the logits tensor."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, idx):
        return self.model(input_ids=idx).logits


CONTENDERS = {"roots": build_roots, "hf-llama": build_hf_llama, "litgpt": build_litgpt}


def parameters(model) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def measure(build, config, args, device, compiled: bool) -> dict:
    """Tokens/s of `steps` timed training steps after `warmup` untimed ones."""
    torch.manual_seed(0)
    model = build(config).to(device).train()
    cfg = TrainConfig(data="-", tokenizer="-", output="-", batch_size=args.batch_size, seq_len=args.seq_len,
                      max_steps=args.steps)
    optimizer = build_optimizer(model, cfg, device)
    step_model = torch.compile(model) if compiled else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bfloat16")
    x = torch.randint(0, config.vocab_size, (args.batch_size, args.seq_len + 1), device=device)
    inputs, targets = x[:, :-1], x[:, 1:]

    def step():
        with autocast:
            logits = step_model(inputs)
        loss = loss_fn(logits, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()  # waits for the device
    elapsed = time.perf_counter() - start
    result = {"tokens_per_s": args.steps * args.batch_size * args.seq_len / elapsed, "parameters": parameters(model),
              "peak_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else None,
              "loss": round(loss.item(), 4)}
    del model, optimizer, step_model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gpu = torch.cuda.is_available()
    parser.add_argument("--preset", default="124m" if gpu else "tiny")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--batch-size", type=int, default=16 if gpu else 8)
    parser.add_argument("--seq-len", type=int, default=None, help="default: the preset's block size")
    parser.add_argument("--steps", type=int, default=20 if gpu else 5)
    parser.add_argument("--warmup", type=int, default=5 if gpu else 2, help="untimed steps first (allocator, compile)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dtype", default="bfloat16" if gpu else "float32", choices=["float32", "bfloat16"])
    parser.add_argument("--modes", default="eager,compiled" if gpu else "eager", help="eager and/or compiled")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if gpu else "cpu")
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
    config = preset(args.preset, args.vocab_size)
    args.seq_len = args.seq_len or config.block_size

    contenders = []
    for name in args.contenders.split(","):
        try:
            CONTENDERS[name](preset("tiny", 256, n_layer=1))  # importable and buildable?
            contenders.append(name)
        except ImportError as e:
            print(f"{name}: skipped ({e}; see the install line in this script's docstring)")
    modes = args.modes.split(",")
    device_name = torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} threads)"
    peak = next((f for k, f in PEAK_FLOPS.items() if gpu and k in device_name), None)
    flops = flops_per_token(config, args.seq_len)
    print(f"{args.preset} shape ({config.num_params() / 1e6:.1f}M parameters), batch {args.batch_size} x "
          f"{args.seq_len}, {args.dtype}, {args.steps} timed steps after {args.warmup}, {args.repeat} rounds, on {device_name}")

    runs: dict[tuple, list] = {}
    for round_ in range(args.repeat):
        order = contenders if round_ % 2 == 0 else contenders[::-1]
        for mode in modes:
            for name in order:
                r = measure(CONTENDERS[name], config, args, device, mode == "compiled")
                runs.setdefault((name, mode), []).append(r)
                print(f"  round {round_ + 1} {name:9} {mode:8} {r['tokens_per_s']:>12,.0f} tokens/s", flush=True)

    rows = []
    for (name, mode), results in runs.items():
        tps = statistics.median(r["tokens_per_s"] for r in results)
        rows.append({"contender": name, "mode": mode, "tokens_per_s": round(tps), "parameters": results[0]["parameters"],
                     "mfu": round(tps * flops / peak, 4) if peak else None,
                     "peak_memory_mib": results[0]["peak_memory_mib"], "rounds": len(results)})
    base = {r["mode"]: r["tokens_per_s"] for r in rows if r["contender"] == "roots"}
    print(f"\n{'contender':10} {'mode':9} {'params':>11} {'tokens/s':>12} {'MFU':>7} {'peak MiB':>9} {'vs roots':>9}")
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        ratio = f"{r['tokens_per_s'] / base[r['mode']]:.2f}x" if base.get(r["mode"]) else ""
        print(f"{r['contender']:10} {r['mode']:9} {r['parameters']:>11,} {r['tokens_per_s']:>12,} {mfu:>7} "
              f"{r['peak_memory_mib'] if r['peak_memory_mib'] is not None else 'n/a':>9} {ratio:>9}")
    summary = {"device": device_name, "preset": args.preset, "batch_size": args.batch_size, "seq_len": args.seq_len,
               "dtype": args.dtype, "steps": args.steps, "repeat": args.repeat, "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == "__main__":
    main()
