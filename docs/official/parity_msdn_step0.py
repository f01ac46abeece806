"""Step-0 parity: official MSDN (core/MSDN.py) vs our MSDNNet + losses, same weights, same batch.

Why: issue 15 asks for loss terms and gradients equal to 1e-5 where the architectures
coincide. Imports the official code at run time from $OFFICIAL_ROOT/MSDN (default /work/official, set up by
setup_official.sh); nothing of it is copied here. Run from the repository root:

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD:/work/official/shims \
        /work/official/venv/bin/python docs/official/parity_msdn_step0.py
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.environ.get("OFFICIAL_ROOT", "/work/official")  # where setup_official.sh put their code and our data
sys.path.insert(0, f"{ROOT}/MSDN")
from core.MSDN import MSDN as Official
from zsl_desktop.engine.methods.msdn import MSDNNet, cross_entropy_loss, self_calibration_loss, distillation_loss

torch.manual_seed(0)
h = h5py.File(f"{ROOT}/data/dev/CUB/feature_map_ResNet_101_CUB.hdf5", "r")
labels = h["labels"][:]; tv = h["trainval_loc"][:]; tu = h["test_unseen_loc"][:]
att = torch.tensor(h["att"][:]); w2v = torch.tensor(h["w2v_att"][:])
seen = torch.tensor(np.unique(labels[tv])); unseen = torch.tensor(np.unique(labels[tu]))
idx = tv[:50]
x = torch.tensor(h["feature_map"][np.sort(idx)]); y = torch.tensor(labels[np.sort(idx)]).long()
off = Official(1280, 300, w2v, att, att, seen, unseen, 0.1, True, normalize_V=False, normalize_F=True,
               is_conservative=True, is_bias=True)
with torch.no_grad():  # non-zero weights everywhere so every path is exercised
    for n in ("W_2", "W_1_1", "W_2_1"):
        getattr(off, n).normal_(0, 0.05)
ours = MSDNNet(312, 1280, 300)
with torch.no_grad():
    for n in ("V", "W_1", "W_2", "W_1_1", "W_2_1"):
        getattr(ours, n).copy_(getattr(off, n))
# official
p1, p2 = off(x)
p1["batch_label"] = y; p2["batch_label"] = y
o1, o2 = off.compute_loss(p1), off.compute_loss(p2)
con = off.compute_contrastive_loss(p1, p2)
loss_off = o1["loss"] + o2["loss"] + 0.001 * con
loss_off.backward()
# ours
a = F.normalize(att.clamp_min(0), dim=1)
is_seen = torch.zeros(50, dtype=torch.bool); is_seen[seen] = True
bias = torch.where(is_seen, -1.0, 1.0)
out = ours(x, False, dtype=torch.float32)
s1 = out.psi_av @ a.t() + bias; s2 = out.psi_va @ a.t() + bias
ce1, ce2 = cross_entropy_loss(s1, y, bias), cross_entropy_loss(s2, y, bias)
sc1, sc2 = self_calibration_loss(s1, unseen), self_calibration_loss(s2, unseen)
dist = distillation_loss(s1, s2, "code")
loss_ours = ce1 + ce2 + 0.1 * (sc1 + sc2) + 0.001 * dist
loss_ours.backward()
print("logits s1 max|diff|", (s1 - p1["S_pp"]).abs().max().item(), " s2", (s2 - p2["S_pp"]).abs().max().item())
print("CE   off %.6f ours %.6f" % ((o1["loss_CE"] + o2["loss_CE"]).item(), (ce1 + ce2).item()))
print("cal  off %.6f ours %.6f" % ((o1["loss_cal"] + o2["loss_cal"]).item(), (sc1 + sc2).item()))
print("dist off %.6f ours %.6f" % (con.item(), dist.item()))
print("total off %.7f ours %.7f" % (loss_off.item(), loss_ours.item()))
for n in ("V", "W_1", "W_2", "W_1_1", "W_2_1"):
    g0, g1 = getattr(off, n).grad, getattr(ours, n).grad
    print(n, "grad max|diff| %.2e (max|g| %.2e)" % ((g0 - g1).abs().max().item(), g0.abs().max().item()))
# bf16 products (our default on AMX CPUs): how far the step-0 loss moves
out16 = ours(x, False, dtype=torch.bfloat16)
t1 = out16.psi_av @ a.t() + bias
print("bf16 products: s1 max|diff| vs fp32 %.3e (|s1| max %.2f)" % ((t1 - s1).abs().max().item(), s1.abs().max().item()))
