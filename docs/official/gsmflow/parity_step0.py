"""Step-0 parity of our GSMFlow flow + relative positioning with the official MM'21 code (train_CUB.py).

Builds the official cINN (FrEIA GLOWCouplingBlock x blocks, subnet width 2048) and GSModule, and
ours (engine.flows) with the same sizes; copies the official weights into ours; feeds both the
same batch, perturbation noise and prototype targets; compares NLL, prototype loss and every
gradient. Runs in the official venv, outside the test suite (it imports their code):

  cd /work/official/GSMFlow && OMP_NUM_THREADS=1 PYTHONPATH=$PWD:/work/official/shim:/work/wt/fidelity-gsmflow \
    ../venv-gsmflow/bin/python /work/wt/fidelity-gsmflow/docs/official/gsmflow/parity_step0.py
"""
import sys

import numpy as np
import torch
import torch.nn as nn

sys.argv = ["train_CUB.py", "--dataset", "CUB50", "--num_coupling_layers", "5"]
import train_CUB as official  # noqa: E402  (parses its flags at import)
from dataset_GBU import DATA_LOADER  # noqa: E402
from sklearn.metrics.pairwise import cosine_similarity  # noqa: E402

from zsl_desktop.engine.methods.gsmflow.flows import (ConditionalFlow, RelativePositioning, choose_anchors,  # noqa: E402
                                      nll_loss, prototype_loss)


def main():
    torch.manual_seed(0)
    opt = official.opt
    data = DATA_LOADER(opt)
    opt.X_dim, opt.C_dim = data.feature_dim, data.att_dim
    dim = opt.X_dim
    # anchors, as train_CUB.train() picks them (train_att: seen classes)
    sim = cosine_similarity(data.train_att, data.train_att).sum(-1)
    medi = int(np.argwhere(sim == np.sort(sim)[int(len(sim) / 2)]).item())
    vertices = torch.from_numpy(np.stack((data.train_att[np.argmin(sim)], data.train_att[np.argmax(sim)],
                                          data.train_att[medi]))).float()
    ours_anchors = choose_anchors(torch.from_numpy(data.train_att))
    print("anchors equal:", torch.equal(vertices, ours_anchors.float()))
    flow_o = official.cINN(opt)
    sm_o = official.GSModule(vertices, opt.input_dim)
    flow_u = ConditionalFlow(dim, opt.input_dim, 2048, opt.num_coupling_layers, 1.0)
    sm_u = RelativePositioning(vertices, opt.input_dim)
    # copy weights: official subnet Linear(len + 1024 -> 2048) = [W_u | W_c], bias in the first
    blocks_o = [m for m in flow_o.cinn.module_list if hasattr(m, "s1")]
    with torch.no_grad():
        for bo, bu in zip(blocks_o, flow_u.blocks):
            for so, su, n_in in ((bo.s1, bu.g1, bo.split_len1), (bo.s2, bu.g2, bo.split_len2)):
                su.fc_u.weight.copy_(so[0].weight[:, :n_in]); su.fc_u.bias.copy_(so[0].bias)
                su.fc_c.weight.copy_(so[0].weight[:, n_in:])
                su.fc_out.weight.copy_(so[2].weight); su.fc_out.bias.copy_(so[2].bias)
        for k, lm in enumerate(sm_o.individuals):
            sm_u.weight[k].copy_(lm.fc.weight); sm_u.bias[k].copy_(lm.fc.bias)
    # one batch, one perturbation
    idx = torch.randperm(data.ntrain)[:256]
    x = data.train_feature[idx]
    labels = data.train_label[idx]
    noise = opt.pi * torch.randn(len(idx), dim)
    att = torch.from_numpy(data.train_att).float()
    x_mean = torch.from_numpy(data.tr_cls_centroid)
    # official step (two backward passes accumulated)
    sr = sm_o(att[labels])
    z, jac = flow_o(x + noise, sr)
    nll_o = torch.mean(z ** 2) / 2 - torch.mean(jac) / dim
    nll_o.backward(retain_graph=True)
    with torch.no_grad():
        sr_all = sm_o(att)
    proto_o = opt.prototype * nn.MSELoss()(flow_o.reverse_sample(torch.zeros(len(att), dim), sr_all), x_mean)
    proto_o.backward()
    # ours (distinct classes + index, as GSMFlow.fit does)
    classes, position = torch.unique(labels, return_inverse=True)
    nll_u = nll_loss(*flow_u(x + noise, sm_u(att[classes]), position))
    proto_u = opt.prototype * prototype_loss(flow_u, sm_u, att, x_mean)
    (nll_u + proto_u).backward()
    print(f"nll      official {nll_o.item():.8f} ours {nll_u.item():.8f} diff {abs(nll_o.item() - nll_u.item()):.2e}")
    print(f"proto    official {proto_o.item():.8f} ours {proto_u.item():.8f} "
          f"diff {abs(proto_o.item() - proto_u.item()):.2e}")
    worst = 0.0
    for bo, bu in zip(blocks_o, flow_u.blocks):
        for so, su, n_in in ((bo.s1, bu.g1, bo.split_len1), (bo.s2, bu.g2, bo.split_len2)):
            pairs = ((so[0].weight.grad[:, :n_in], su.fc_u.weight.grad), (so[0].bias.grad, su.fc_u.bias.grad),
                     (so[0].weight.grad[:, n_in:], su.fc_c.weight.grad), (so[2].weight.grad, su.fc_out.weight.grad),
                     (so[2].bias.grad, su.fc_out.bias.grad))
            for a, b in pairs:
                worst = max(worst, (a - b).abs().max().item())
    for k, lm in enumerate(sm_o.individuals):
        worst = max(worst, (lm.fc.weight.grad - sm_u.weight.grad[k]).abs().max().item(),
                    (lm.fc.bias.grad - sm_u.bias.grad[k]).abs().max().item())
    print(f"largest gradient difference over all parameters: {worst:.2e}")
    ok = abs(nll_o.item() - nll_u.item()) < 1e-5 and abs(proto_o.item() - proto_u.item()) < 1e-5 and worst < 1e-5
    print("PARITY", "OK" if ok else "FAILED")


if __name__ == "__main__":
    main()
