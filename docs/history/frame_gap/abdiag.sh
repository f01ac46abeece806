#!/bin/bash
# Alternated before/after runs of the smooth child under diag.py (GUI CPU per gap, trainer CPU per step).
n=$1
for i in $(seq 1 $n); do
  for side in before after; do
    cd /tmp/frame16/$side && PYTHONPATH=$PWD QT_QPA_PLATFORM=offscreen timeout 300 python /tmp/frame16/diag.py /tmp/frame16/x_${side}_$i.json 8 > /tmp/frame16/x_${side}_$i.log 2>&1
  done
done
