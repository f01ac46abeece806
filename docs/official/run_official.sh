#!/bin/bash
# Run the prepared official code (docs/official/setup_official.sh) on one CPU thread.
#
#   bash docs/official/run_official.sh msdn SEED [ROOT]     -> stdout: MSDN_cub.py's log
#   bash docs/official/run_official.sh cegzsl SEED [ROOT]   -> stdout: CE_GZSL.py's log, each line
#                                                              prefixed with a unix timestamp
# Summarise the logs with docs/official/summarise_logs.py.
set -euo pipefail
what=$1
seed=$2
ROOT=${3:-/work/official}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$ROOT/shims
case $what in
  msdn)
    cd "$ROOT/MSDN"
    SEED=$seed exec "$ROOT/venv/bin/python" -u MSDN_cub.py 2>&1
    ;;
  cegzsl)
    cd "$ROOT/CE-GZSL"
    # ANCHORS.md's flags: CUB's settings with the sizes of our features and of the 50-class subset;
    # batch 186 keeps CUB's batch-to-trainval ratio (2048 / 7057 x 641).
    "$ROOT/venv/bin/python" -u CE_GZSL.py --dataset CUB50 --dataroot ./data --class_embedding att \
      --resSize 1280 --attSize 312 --nz 312 --nclass_all 50 --nclass_seen 40 --syn_num 100 \
      --embedSize 2048 --outzSize 512 --nhF 2048 --ins_weight 0.001 --cls_weight 0.001 \
      --ins_temp 0.1 --cls_temp 0.1 --manualSeed "$seed" --batch_size 186 2>&1 |
      while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N | cut -c1-14)" "$line"; done
    ;;
  *)
    echo "first argument: msdn or cegzsl" >&2
    exit 2
    ;;
esac
