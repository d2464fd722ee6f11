#!/usr/bin/env bash
# Everything a lent GPU machine should check, in one run (about 6-8 minutes on one H100/H200):
#   1. training throughput side by side: roots vs transformers' Llama vs litgpt, 124M shape,
#      bf16, eager and compiled, alternating order, median of 3 rounds (benchmarks/bench_train.py);
#   2. the NCCL paths the CPU tests cannot reach: DDP and FSDP (bf16 mixed precision) on the GPU(s)
#      present, a checkpoint, a kill and a resume, compared with the uninterrupted run;
#   3. evaluation in the checkpoint's training dtype on CUDA (results record dtype and device).
# Results land in ${OUT:-out/gpu}: bench_train.json, resume.txt, eval.json, log.txt.
#
#   OUT=out/gpu bash benchmarks/gpu_session.sh
set -euo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
exec > >(tee "$OUT/log.txt") 2>&1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
NGPU=$(python -c "import torch; print(max(torch.cuda.device_count(), 1))")
NPROC=$(( NGPU >= 2 ? 2 : 1 ))

echo "== 1. training throughput"
python benchmarks/bench_train.py --repeat 3 --json "$OUT/bench_train.json"

echo "== 2. DDP / FSDP on CUDA: checkpoint, kill, resume"
WORK=$(mktemp -d)
python - "$WORK" <<'PY'
import sys
from pathlib import Path
from roots_model.testing import tiny_workspace
import shutil
ws = tiny_workspace()
for name in ("tokens", "tokenizer"):
    shutil.copytree(getattr(ws, name), Path(sys.argv[1]) / name)
PY
run() {  # $1 strategy, $2 output, rest: extra flags
  local strategy=$1 out=$2; shift 2
  torchrun --nproc_per_node "$NPROC" -m roots_model pretrain --data "$WORK/tokens" --tokenizer "$WORK/tokenizer" \
    --output "$out" --max-steps 40 --batch-size 8 --seq-len 128 --warmup-steps 4 --dropout 0.1 \
    --log-interval 1 --eval-interval 20 --checkpoint-interval 20 --strategy "$strategy" --no-progress "$@"
}
for strategy in ddp fsdp; do
  run "$strategy" "$WORK/$strategy-straight"
  run "$strategy" "$WORK/$strategy-killed" --stop-after-step 30
  run "$strategy" "$WORK/$strategy-killed" --resume
  python - "$WORK/$strategy-straight" "$WORK/$strategy-killed" "$strategy" <<'PY' | tee -a "$OUT/resume.txt"
import json, sys
from pathlib import Path
a, b = ([json.loads(l)["loss"] for l in (Path(p) / "metrics.jsonl").read_text().splitlines()] for p in sys.argv[1:3])
print(f"{sys.argv[3]}: {len(a)} steps, resumed run identical: {a == b}, max |diff| {max(abs(x - y) for x, y in zip(a, b)):.3g}")
PY
done

echo "== 3. evaluation in the training dtype"
roots-eval run --model "$WORK/fsdp-straight" --tasks cls_sst2,mt_flores200_zh-en --limit 50 --output "$OUT/eval.json"
python -c "import json; m = json.load(open('$OUT/eval.json'))['model']; print({k: m.get(k) for k in ('dtype', 'device', 'trained_dtype', 'batch_size')})"
