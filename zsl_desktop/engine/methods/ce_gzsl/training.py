"""CE-GZSL's and IPCE's training loop: the critic and generator steps, their optimisers and IPCE's prototypes.

Why apart from ``method.py``: this is the shared loop the two methods train with (IPCE's changes sit in the lines
they change: ``_contrastive`` and the prototypes), while ``method.py`` keeps what the model is (its networks,
members, hyper-parameters) and what it gives the views. ``CEGZSLTraining`` is a mixin of ``method._CEGZSLBase``
and expects from it ``_hp``, ``_G``, ``_D``, ``_E``, ``_F``, ``_scaler``, ``_build``, ``_modules``, ``_attributes``,
``_fit_classifier``, ``variant``, ``name``, ``num_attributes``, ``info`` and ``device``.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from zsl_desktop.engine.sharding import Part

from ..base import Control, EpochEnd, Step, TrainData
from .nets import (
    comparator_loss,
    gradient_penalty,
    ipce_loss,
    normal_init,
    supcon_loss,
)
from ..generative import FeatureScaler, generator_for
from .seeding import HEAD, INIT, TRAIN


class CEGZSLTraining:
    """``fit``: the critic / generator schedule (sharded under torchrun), then the final softmax."""

    # -- training -------------------------------------------------------------------------------
    def fit(self, data: TrainData, control: Control, epochs: int, start_epoch: int = 0) -> Iterator:
        device = torch.device(data.device)
        raw = np.asarray(data.class_attributes, dtype=np.float32)
        if raw.ndim != 2 or raw.shape[1] != self.num_attributes:
            raise ValueError(f"{self.name}: class attributes {raw.shape} do not match {self.num_attributes} attributes")
        self.device = str(device)
        self._known_cache = self._column_cache = None  # the weights change from here: nothing cached holds
        attributes = self._attributes(raw)
        seen = torch.as_tensor(np.asarray(data.seen_classes, dtype=np.int64), device=device)
        self._seen = seen
        unseen = torch.as_tensor(np.asarray(data.unseen_classes, dtype=np.int64), device=device)
        x_raw = data.features.rows("pooled", np.asarray(data.train_index), device)
        y = torch.as_tensor(np.asarray(data.train_labels, dtype=np.int64), device=device)
        seed = int(data.seed)
        if start_epoch > 0 and self._head is None:
            raise ValueError(f"{self.name}: nothing to resume from (load the state of a finished epoch first)")
        if start_epoch == 0:
            self._scaler = FeatureScaler.fit(x_raw)
            self._build()
            g = generator_for(seed, 0, INIT)
            for module in self._modules():
                normal_init(module, g)
            self._opt_d = self._opt_g = None
            self._pending_optim = None
        self.to(device)
        xs = self._scaler(x_raw)
        # Positions of the labels among the training classes (the comparator's and the prototypes' rows).
        position = torch.full((int(attributes.shape[0]),), -1, dtype=torch.long, device=device)
        position[seen] = torch.arange(len(seen), device=device)
        target = position[y]
        if start_epoch == 0 and self._proto is not None:
            self._init_prototypes(xs, y, seen)
        self._make_optimizers()
        a_seen = attributes[seen]
        n, batch_size = len(xs), max(1, self._hp("batch_size"))
        batches = max(1, math.ceil(n / batch_size))
        total, step = epochs * batches, start_epoch * batches
        for epoch in range(start_epoch, epochs):
            lr = self._hp("lr") * self._hp("lr_dec_rate") ** (epoch // max(1, self._hp("lr_decay_epoch")))
            for opt in (self._opt_d, self._opt_g):
                for group in opt.param_groups:
                    group["lr"] = lr
            g = generator_for(seed, epoch, TRAIN)
            order = torch.randperm(n, generator=g).to(device)
            for module in self._modules():
                module.train()
            g_losses = {}
            for batch in torch.tensor_split(order, batches):
                control.check()
                part = data.shards.part(len(batch))  # under torchrun: this rank's rows of the batch
                pick = part.of(batch)
                x, labels, t = xs[pick], y[pick], target[pick]
                a = attributes[labels]
                t_whole = target[batch]  # the contrastive losses pair every row of the batch
                d_losses = self._critic_step(x, a, t, t_whole, a_seen, g, part)
                step += 1
                if step % max(1, self._hp("critic_iter")) == 0:
                    g_losses = self._generator_step(x, a, t, t_whole, a_seen, g, part)
                losses = {**d_losses, **g_losses}
                bad = [k for k, v in losses.items() if not math.isfinite(v)]
                if bad:
                    raise FloatingPointError(
                        f"{self.name}: {bad[0]} became {losses[bad[0]]} at epoch {epoch + 1}; try a lower learning rate"
                    )
                yield Step(step, total, epoch + 1, {"total": losses["d_loss"], **losses})
            draws = self._final_draws() if data.final and epoch == epochs - 1 else 0  # the one a final model keeps
            self._fit_classifier(xs, y, raw, attributes, unseen, generator_for(seed, epoch, HEAD), control.check, draws)
            yield EpochEnd(epoch + 1, epochs)
        for module in self._modules():
            module.eval()

    def _init_prototypes(self, xs, y, seen) -> None:
        """Prototypes start at the normalised class means of z under the initial embedding."""
        with torch.no_grad():
            _, z = self._E(xs)
            proto = torch.zeros_like(self._proto)
            for c in seen.tolist():
                proto[c] = F.normalize(z[y == c].mean(0), dim=0)
            self._proto.copy_(proto)
            self._proto_trained = torch.zeros(self.info.num_classes, dtype=torch.bool)
            self._proto_trained[seen.cpu()] = True

    def _make_optimizers(self) -> None:
        if self._opt_d is not None:
            return
        betas = (self._hp("beta1"), 0.999)
        d_params = list(self._D.parameters()) + list(self._E.parameters()) + list(self._F.parameters())
        if self._proto is not None:
            d_params.append(self._proto)
        self._opt_d = torch.optim.Adam(d_params, lr=self._hp("lr"), betas=betas)
        self._opt_g = torch.optim.Adam(self._G.parameters(), lr=self._hp("lr"), betas=betas)
        if self._pending_optim is not None:
            for name, opt in (("D", self._opt_d), ("G", self._opt_g)):
                state = self._pending_optim.get(name)
                if state:
                    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
            self._pending_optim = None

    def _noise(self, rows: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(rows, self._G.nz, generator=g).to(self.device)

    def _contrastive(self, z, labels, proto_rows=None):
        """(loss, parts): SupCon for CE-GZSL, L_PC for IPCE (prototypes fixed when proto_rows is given)."""
        if self.variant != "ipce":
            return supcon_loss(z, labels, self._hp("ins_temp")), {}
        proto = F.normalize(self._proto[self._seen], dim=1)
        if proto_rows is not None:
            proto = proto.detach()
        total, l_ps, l_ss = ipce_loss(
            z,
            labels,
            proto,
            self._hp("margin"),
            self._hp("scale"),
            self._hp("ins_temp"),
            self._hp("gamma"),
            1.0,
            proto_rows,
        )
        w = self._hp("proto_weight")
        return w * l_ps + l_ss, {"proto": l_ps.item(), "sample": l_ss.item()}

    def _critic_step(self, x, a, t, t_whole, a_seen, g, part: Part) -> dict:
        """One step of D, E, F (and IPCE's prototypes) on this rank's rows ``x`` (labels ``t``) of the batch.

        The contrastive loss pairs the whole batch's rows (``part.whole``; ``t_whole`` their labels).
        """
        for module in (self._D, self._E, self._F):
            module.requires_grad_(True)
        self._opt_d.zero_grad(set_to_none=True)
        h, z = self._E(x)
        d_real = self._D(x, a).mean()
        with torch.no_grad():
            fake = self._G(part.of(self._noise(part.size, g)), a)
        d_fake = self._D(fake, a).mean()
        alpha = part.of(torch.rand(part.size, 1, generator=g)).to(x.device)  # the penalty's mixing weights
        gp = gradient_penalty(self._D, x, fake, a, alpha=alpha) * self._hp("lambda_gp")
        con, parts = self._contrastive(part.whole(z), t_whole)
        cls = comparator_loss(self._F(h, a_seen), t, self._hp("cls_temp"))
        loss = d_fake - d_real + gp + con + cls
        loss.backward()
        names = ("d_loss", "wasserstein", "gp", "con_real", "cls_real") + tuple(f"{k}_real" for k in parts)
        terms = (loss, d_real - d_fake, gp, con, cls) + tuple(parts.values())
        figures = part.shards.average_gradients(self._opt_d, part.share, *terms)
        self._opt_d.step()
        return dict(zip(names, figures))

    def _generator_step(self, x, a, t, t_whole, a_seen, g, part: Part) -> dict:
        for module in (self._D, self._E, self._F):
            module.requires_grad_(False)
        self._opt_g.zero_grad(set_to_none=True)
        fake = self._G(part.of(self._noise(part.size, g)), a)
        adversarial = -self._D(fake, a).mean()
        h_fake, z_fake = self._E(fake)
        with torch.no_grad():
            _, z_real = self._E(x)
        z_fake, z_real = part.whole(z_fake), part.whole(z_real)
        con, parts = self._contrastive(
            torch.cat((z_fake, z_real)), torch.cat((t_whole, t_whole)), proto_rows=len(t_whole)
        )
        cls = comparator_loss(self._F(h_fake, a_seen), t, self._hp("cls_temp"))
        loss = adversarial + self._hp("ins_weight") * con + self._hp("cls_weight") * cls
        loss.backward()
        names = ("g_loss", "con_fake", "cls_fake") + tuple(f"{k}_fake" for k in parts)
        figures = part.shards.average_gradients(self._opt_g, part.share, loss, con, cls, *parts.values())
        self._opt_g.step()
        for module in (self._D, self._E, self._F):
            module.requires_grad_(True)
        return dict(zip(names, figures))
