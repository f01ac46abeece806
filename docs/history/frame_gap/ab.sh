#!/bin/bash
# Alternated before/after runs of the bench's smooth child (8 s probe while MSDN trains, built-in birds).
out=$1; n=$2
for i in $(seq 1 $n); do
  for side in before after; do
    if [ $side = before ]; then dir=/tmp/frame16/before; else dir=/tmp/frame16/after; fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    res=$(cd $dir && PYTHONPATH=$dir QT_QPA_PLATFORM=${QPA:-offscreen} timeout 300 python -m zsl_desktop.bench.ui_children smooth --seconds 8 2>/dev/null | grep '^{')
    echo "$side $i load=$load $res" >> $out
  done
done
