"""Training throughput: tokens/s, MFU and peak memory of the roots_model training step.

    python benchmarks/bench_train.py                      # GPU: the GPT-2-124M shape, bf16
    python benchmarks/bench_train.py --preset tiny        # CPU: the tiny preset, fp32

On a GPU the default is the GPT-2-124M shape (12 layers, 768 wide, 12 heads, seq 1024,
bf16 autocast, fused AdamW); nanoGPT's reference on one H100 is about 477k tokens/s (with
torch.compile and a 50,304-token vocabulary: pass --compile --vocab-size 50304 to match).
Without a GPU it measures the `tiny` preset on the CPU. The step is the one
roots_model.train runs (forward, loss, backward, clipping, AdamW), on random tokens, so
data loading is not measured.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from roots_model.model import GPT, flops_per_token, loss_fn, preset
from roots_model.train import PEAK_FLOPS, TrainConfig, build_optimizer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gpu = torch.cuda.is_available()
    parser.add_argument("--preset", default="124m" if gpu else "tiny")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--batch-size", type=int, default=16 if gpu else 8)
    parser.add_argument("--seq-len", type=int, default=None, help="default: the preset's block size")
    parser.add_argument("--steps", type=int, default=30 if gpu else 20)
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (allocator, compile)")
    parser.add_argument("--dtype", default="bfloat16" if gpu else "float32", choices=["float32", "bfloat16"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device("cuda" if gpu else "cpu")
    config = preset(args.preset, args.vocab_size)
    seq_len = args.seq_len or config.block_size
    cfg = TrainConfig(data="-", tokenizer="-", output="-", preset=args.preset, batch_size=args.batch_size,
                      seq_len=seq_len, max_steps=args.steps)
    torch.manual_seed(0)
    model = GPT(config).to(device)
    optimizer = build_optimizer(model, cfg, device)
    step_model = torch.compile(model) if args.compile else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bfloat16")
    x = torch.randint(0, args.vocab_size, (args.batch_size, seq_len + 1), device=device)
    inputs, targets = x[:, :-1], x[:, 1:]

    def train_step():
        with autocast:
            logits = step_model(inputs)
        loss = loss_fn(logits, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(args.warmup):
        train_step()
    if gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = train_step()
    loss.item()  # wait for the device
    elapsed = time.perf_counter() - start

    tokens_per_s = args.steps * args.batch_size * seq_len / elapsed
    achieved = tokens_per_s * flops_per_token(config, seq_len)
    peak = next((f for k, f in PEAK_FLOPS.items() if gpu and k in torch.cuda.get_device_name()), None)
    if gpu:
        peak_memory = torch.cuda.max_memory_allocated()
        device_name = torch.cuda.get_device_name()
    else:
        peak_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        device_name = f"CPU ({torch.get_num_threads()} threads)"
    result = {
        "device": device_name, "preset": args.preset, "parameters_m": round(model.num_params() / 1e6, 2),
        "batch_size": args.batch_size, "seq_len": seq_len, "dtype": args.dtype, "compile": args.compile,
        "steps": args.steps, "seconds_per_step": round(elapsed / args.steps, 4),
        "tokens_per_s": round(tokens_per_s), "achieved_tflops": round(achieved / 1e12, 3),
        "mfu": round(achieved / peak, 4) if peak else None,
        "peak_memory_mib": round(peak_memory / 2**20, 1),
        "peak_memory_kind": "torch.cuda.max_memory_allocated" if gpu else "process max RSS",
    }
    print(json.dumps(result))
    mfu = f"{result['mfu']:.1%}" if result["mfu"] is not None else "n/a (no known peak for this device)"
    print(f"{args.preset} on {device_name}: {result['tokens_per_s']:,} tokens/s, "
          f"{result['achieved_tflops']} TFLOP/s, MFU {mfu}, peak memory {result['peak_memory_mib']:,} MiB")
    return result


if __name__ == "__main__":
    main()
