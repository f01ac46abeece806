"""Parity of our CE-GZSL comparator and SupCon loss with the official modules, same weights and inputs.

Why: issue 15 asks for loss terms equal to 1e-5 where the architectures coincide. Imports
the official ``model.Dis_Embed_Att`` and ``losses.SupConLoss_clear`` at run time from
$OFFICIAL_ROOT/CE-GZSL (default /work/official, set up by setup_official.sh); nothing of
their code is copied here. Run from the repository root:

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD:/work/official/shims \\
        /work/official/venv/bin/python docs/official/parity_cegzsl_losses.py
"""
import os
import sys
from types import SimpleNamespace

import torch
import torch.nn.functional as F

ROOT = os.environ.get("OFFICIAL_ROOT", "/work/official")
sys.path.insert(0, f"{ROOT}/CE-GZSL")
import losses as official_losses  # noqa: E402
import model as official_model  # noqa: E402

from zsl_desktop.engine.methods.ce_gzsl.nets import Comparator, comparator_loss, supcon_loss  # noqa: E402

torch.manual_seed(0)
batch, embed, att, hidden, seen = 186, 2048, 312, 2048, 40
opt = SimpleNamespace(embedSize=embed, attSize=att, nhF=hidden)
theirs = official_model.Dis_Embed_Att(opt)
ours = Comparator(embed, att, hidden)
with torch.no_grad():
    ours.fc_h.weight.copy_(theirs.fc1.weight[:, :embed])
    ours.fc_h.bias.copy_(theirs.fc1.bias)
    ours.fc_a.weight.copy_(theirs.fc1.weight[:, embed:])
    ours.fc2.weight.copy_(theirs.fc2.weight)
    ours.fc2.bias.copy_(theirs.fc2.bias)
h = torch.relu(torch.randn(batch, embed))
a_seen = F.normalize(torch.rand(seen, att), dim=1)
labels = torch.randint(0, seen, (batch,))
# Their class-level score: F on every (image, seen class) pair of the concatenation, / temperature.
pairs = torch.cat((h.repeat_interleave(seen, 0), a_seen.repeat(batch, 1)), 1)
scores_theirs = theirs(pairs).reshape(batch, seen)
scores_ours = ours(h, a_seen)
print("comparator scores max|diff| %.2e (max|s| %.2e)" % ((scores_theirs - scores_ours).abs().max().item(),
                                                          scores_theirs.abs().max().item()))
print("class loss theirs-form %.6f ours %.6f" % (F.cross_entropy(scores_theirs / 0.1, labels).item(),
                                                 comparator_loss(scores_ours, labels, 0.1).item()))
z = F.normalize(torch.randn(batch, 512), dim=1)
print("SupCon theirs %.6f ours %.6f" % (official_losses.SupConLoss_clear(0.1)(z, labels).item(),
                                        supcon_loss(z, labels, 0.1).item()))
