#!/usr/bin/env bash
# The release chain once: refresh -> a proxy per new release -> its scores -> the leaderboard of
# releases (python -m roots_eval.chain all). Every step does only what is missing, so a timer may
# run it daily; a day whose previous run still holds the lock is skipped (flock -n: no queueing,
# no overlap on this machine; the refresh's own lock refuses a second machine).
#
# Settings (environment; the crontab line sets them):
#   ROOTS_PYTHON        interpreter with ROOTS installed             (default: python3)
#   ROOTS_INPUT         raw input glob, local or gs://                (default: every raw file)
#   ROOTS_RELEASES      releases folder, local or gs://
#   ROOTS_WORK          local folder: tokenizer, proxies, results, site
#   ROOTS_BUDGET        chain flags of the proxy budget, e.g. "--steps 300 --tasks all" (default: the chain's)
#   ROOTS_REFRESH_ARGS  Beam options of the refresh (default: Dataflow, below; set but empty: local runner)
#   ROOTS_CHAIN_LOCK    the flock file                                (default: /var/lock/roots-release-chain.lock)
set -euo pipefail
python="${ROOTS_PYTHON:-python3}"
input="${ROOTS_INPUT:-gs://roots-raw/*/*.jsonl.gz}"
releases="${ROOTS_RELEASES:-gs://roots-corpus/releases/}"
work="${ROOTS_WORK:-/var/lib/roots/chain}"
refresh_args="${ROOTS_REFRESH_ARGS---runner DataflowRunner --project roots-prod --region us-central1 --temp_location gs://roots-corpus/tmp}"
lock="${ROOTS_CHAIN_LOCK:-/var/lock/roots-release-chain.lock}"

# ROOTS_BUDGET and ROOTS_REFRESH_ARGS are lists of flags: split on purpose.
# shellcheck disable=SC2086
exec flock -n "$lock" "$python" -m roots_eval.chain all --input "$input" --releases "$releases" --work "$work" \
  ${ROOTS_BUDGET:-} $refresh_args
