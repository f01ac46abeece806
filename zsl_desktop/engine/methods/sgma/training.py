"""SGMA's training: the stages, the losses per batch, the fixed stage-2 features, the schedule.

A mixin of ``method.SGMA`` (kept apart because training and inference are separate
concerns and one file would pass 500 lines); see ``method.py`` for the model.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..base import Control, EpochEnd, Message, Step, TrainData
from ..checked_step import checked_step
from .parts import (
    CROP,
    GLOBAL,
    GRID,
    NET_PARAMETERS,
    as_distribution,
    box_fit_loss,
    channel_peaks,
    class_centre_triplet_loss,
    compactness_loss,
    diversity_loss,
    embedding_softmax_loss,
    kmeans,
    to_corners,
)


class SGMATraining:
    """``fit`` and its helpers; expects ``_net``, ``_hp``, ``_attend``, ``_grid_parts``, ``_embed``, ``_streams``,
    ``_raw_code``, ``_code_mean``, ``_set_own_mean`` and ``centres_codes`` from SGMA."""

    def _stream_losses(self, emb, streams, labels, phi_seen, seen_index):
        """Sum over streams of softmax + lambda_cct x triplet; also returns the two sums for the log."""
        cls_total, cct_total = emb.new_zeros(()), emb.new_zeros(())
        for j, s in enumerate(streams):
            cls_total = cls_total + embedding_softmax_loss(emb[:, j], phi_seen, labels)
            cct_total = cct_total + class_centre_triplet_loss(
                emb[:, j], self._net.centres[s, seen_index], labels, self._hp("cct_margin")
            )
        return cls_total + self._hp("lambda_cct") * cct_total, cls_total, cct_total

    # -- training -----------------------------------------------------------------------------
    def fit(self, data: TrainData, control: Control, epochs: int, start_epoch: int = 0) -> Iterator:
        device = torch.device(data.device)
        num_attributes = len(self.info.attribute_names)
        raw = np.asarray(data.class_attributes, dtype=np.float32)
        if raw.ndim != 2 or raw.shape[1] != num_attributes:
            raise ValueError(f"sgma: class attributes {raw.shape} do not match {num_attributes} attributes")
        phi = torch.from_numpy(self.prepare_class_attributes(raw))
        seen = np.asarray(data.seen_classes, np.int64)
        position = np.full(raw.shape[0], -1, np.int64)
        position[seen] = np.arange(len(seen))
        train_index = np.asarray(data.train_index)
        labels_np = position[np.asarray(data.train_labels, np.int64)]
        if (labels_np < 0).any():
            raise ValueError("sgma: some training labels are not among the seen classes")
        images = getattr(data.features, "images", None) if self._hp("crops") else None

        if start_epoch == 0:
            yield from self._initialise(data, train_index, phi)
        self.to(device)
        if self._optimizer is None:
            self._optimizer = torch.optim.SGD(
                [self._net.parameter(n) for n in NET_PARAMETERS],
                lr=self._sched["lr"],
                momentum=self._hp("momentum"),
                weight_decay=self._hp("weight_decay"),
            )
            if self._pending_optim is not None:
                self._load_optimizer(self._pending_optim)
                self._pending_optim = None
        optimizer = self._optimizer
        phi_seen = phi[torch.as_tensor(seen)].to(device)
        seen_index = torch.as_tensor(seen, device=device)
        labels = torch.as_tensor(labels_np, device=device)
        n = len(train_index)
        batch_size = max(1, self._hp("batch_size"))
        per_epoch = math.ceil(n / batch_size)
        total = epochs * per_epoch
        step = start_epoch * per_epoch
        stage1 = self._hp("attention_epochs")
        centre = self.centres_codes(len(seen))
        fixed = None  # stage 2's in-memory features
        self._net.train()
        for epoch in range(start_epoch, epochs):
            in_stage1 = epoch < stage1
            if not in_stage1 and fixed is None:
                fixed = yield from self._fixed_features(data, train_index, images, control, device)
                if epoch == stage1:
                    self._sched["best"], self._sched["bad"] = math.inf, 0  # other losses from here on
            for group in optimizer.param_groups:
                group["lr"] = self._sched["lr"]
            order = np.random.default_rng([int(data.seed) & 0xFFFFFFFF, epoch]).permutation(n)
            epoch_loss = 0.0
            for first in range(0, n, batch_size):
                control.check()
                part = data.shards.part(len(order[first : first + batch_size]))  # torchrun: this rank's rows
                pick = part.of(order[first : first + batch_size])
                y = labels[torch.as_tensor(pick, device=device)]
                if in_stage1:
                    grid = data.features.rows("grid", train_index[pick], device)
                    loss, terms = self._stage1_loss(grid, y, phi_seen, seen_index)
                else:
                    batch = {k: v[torch.as_tensor(pick)].to(device, torch.float32) for k, v in fixed.items()}
                    loss, terms = self._stage2_loss(batch, y, phi_seen, seen_index)
                figures = checked_step("sgma", optimizer, part, (loss, *terms.values()), epoch + 1, step + 1)
                step += 1
                epoch_loss += figures[0] * part.size  # the whole batch's: every rank steers the lr alike
                yield Step(step, total, epoch + 1, {"total": figures[0], **dict(zip(terms, figures[1:]))})
            with torch.no_grad():
                self._net.trained[GLOBAL] += 1
                self._net.trained[GRID] += 1
                if not in_stage1 and "crop" in fixed:
                    self._net.trained[CROP] += 1
            self._plateau(epoch_loss / max(n, 1))
            if centre:  # with members: the mean over every final model (method._set_own_mean)
                self._set_own_mean(self._training_code_means(data, train_index, fixed, device))
            yield EpochEnd(epoch + 1, epochs)
        self._net.eval()

    def _initialise(self, data: TrainData, train_index: np.ndarray, phi: torch.Tensor):
        """Fresh, seeded start: channel scale and k-means channel groups from a sample of training rows."""
        rng = np.random.default_rng([int(data.seed) & 0xFFFFFFFF, 99])
        sample = np.sort(rng.permutation(train_index)[: max(1, self._hp("kmeans_images"))])
        grid = data.features.rows("grid", sample).numpy()
        scale = grid.mean(axis=(0, 2, 3))
        scale = np.where(scale > 0, scale, max(float(scale[scale > 0].mean()) if (scale > 0).any() else 1.0, 1e-6))
        groups = kmeans(channel_peaks(grid), self._hp("parts"), seed=int(data.seed))
        self._net = self._new_net()
        self._net.att.reset(groups, scale, data.seed)
        self._net.crop.reset(data.seed)
        self._net.reset_heads(phi, data.seed)
        self._optimizer, self._pending_optim = None, None
        self._sched = {"lr": self._hp("lr"), "best": math.inf, "bad": 0}
        sizes = np.bincount(groups, minlength=self._hp("parts")).tolist()
        yield Message(f"sgma: {len(sample)} images clustered the channels into part groups of {sizes}")

    def _stage1_loss(self, grid, y, phi_seen, seen_index):
        maps, boxes = self._attend(grid)
        h, w = grid.shape[-2:]
        fine = F.interpolate(maps.detach(), scale_factor=4, mode="bilinear", align_corners=False)
        box = box_fit_loss(as_distribution(fine), boxes, self._hp("box_area"), self._hp("box_k"), cells=(h, w))
        cpt = compactness_loss(maps)
        div = diversity_loss(maps, self._hp("div_margin"))
        streams = self._net.stream_ids(GLOBAL) + self._net.stream_ids(GRID)
        features = torch.cat([grid.mean((2, 3))[:, None], self._grid_parts(grid, maps, boxes)], 1)
        emb_loss, cls, cct = self._stream_losses(self._embed(features, streams), streams, y, phi_seen, seen_index)
        loss = emb_loss + self._hp("lambda_cpt") * cpt + self._hp("lambda_div") * div + self._hp("lambda_box") * box
        return loss, {"cls": cls.item(), "cct": cct.item(), "cpt": cpt.item(), "div": div.item(), "box": box.item()}

    def _stage2_loss(self, batch, y, phi_seen, seen_index):
        streams = self._net.stream_ids(GLOBAL) + self._net.stream_ids(GRID)
        parts = [batch["global"][:, None], batch["grid"]]
        if "crop" in batch:
            streams += self._net.stream_ids(CROP)
            parts.append(batch["crop"])
        emb_loss, cls, cct = self._stream_losses(
            self._embed(torch.cat(parts, 1), streams), streams, y, phi_seen, seen_index
        )
        return emb_loss, {"cls": cls.item(), "cct": cct.item()}

    @torch.no_grad()
    def _fixed_features(self, data, train_index, images, control, device, chunk: int = 256):
        """Stage 2 inputs for every training row, once: global, grid-part and crop features (float16).

        Under torchrun each rank computes its share of the rows and the shares are summed (``gather_rows``).
        """
        self._net.eval()
        out = {"global": [], "grid": [], "crop": []}
        encoder = self._crop_encoder(images, device) if images is not None else None
        shards = data.shards
        if len(train_index) < shards.world_size:
            raise ValueError(f"sgma: {len(train_index)} training images cannot be shared by {shards.world_size} ranks")
        mine = shards.owns(len(train_index))
        n, reported = mine.stop, 0
        for first in range(mine.start, n, chunk):
            control.check()
            rows = train_index[first : min(first + chunk, n)]
            grid = data.features.rows("grid", rows, device)
            maps, boxes = self._attend(grid)
            out["global"].append(grid.mean((2, 3)).half().cpu())
            out["grid"].append(self._grid_parts(grid, maps, boxes).half().cpu())
            if encoder is not None:
                corners = to_corners(boxes).cpu().numpy()
                out["crop"].append(torch.from_numpy(encoder.features(rows, corners, control)).half())
                done = min(first + chunk, n)
                if done * 4 // n > reported or done == n:
                    reported = done * 4 // n
                    yield Message(
                        f"sgma: part crops of {done}/{n} training images "
                        f"({encoder.computed} ran the backbone, the rest came from the cache)"
                    )
        self._net.train()
        fixed = {k: torch.cat(v) for k, v in out.items() if v}
        if shards.active:
            for key, part in fixed.items():
                whole = part.new_zeros((len(train_index),) + tuple(part.shape[1:]))
                whole[mine] = part
                fixed[key] = shards.gather_rows(whole)
        return fixed

    @torch.no_grad()
    def _training_code_means(self, data, train_index, fixed, device, chunk: int = 256) -> torch.Tensor:
        """[2, A] mean uncentred code of the training rows: with grid part streams, with crop part streams.

        Stage 1 (``fixed`` None) recomputes the grid parts, as the attention still moves; stage 2 reads the
        fixed features. The crop row stays 0 until crop heads train (encode_rows uses crops only then).
        Why centre (few seen classes only): the codes share a large mean, and its dot product with a class's
        attribute row is a per-class offset the seen-class softmax never corrects for unseen rows. Digit
        stand-in (docs/small_data, 50 scans a class, 7 seen / 3 unseen), seeds 0-2, one thread, busy machine.
        The choice, on seen-class folds: fold-mean validation H (best epoch) A 59.0/59.1/59.0 -> 68.9/63.0/62.7,
        B 48.9/51.9/56.5 -> 58.8/50.9/58.7; validation ZSL (mean over epochs) up on all six runs. On test:
        ZSL T1 A 35.5 +- 2.0 -> 51.6 +- 9.7, B 34.7 +- 1.4 -> 39.8 +- 4.3; AUSUC A 23.9 -> 33.0, B 20.3 -> 24.3;
        H A 36.0 +- 3.8 -> 40.4 +- 6.4 but B 33.8 +- 1.3 -> 27.4 +- 7.1 (U falls: gamma, not the model). With 8+ seen
        classes (CUB, the built-in birds) nothing changes: the mean stays 0."""
        self._net.eval()
        means = torch.zeros_like(self._code_mean)
        if fixed is None:
            codes = [
                self._raw_code(self._streams(data.features.rows("grid", train_index[i : i + chunk], device).float())[0])
                for i in range(0, len(train_index), chunk)
            ]
            means[0] = torch.cat(codes).mean(0).cpu()
        else:
            for row, kind in ((0, GRID), (1, CROP)):
                key = "grid" if kind == GRID else "crop"
                if key in fixed:
                    features = torch.cat([fixed["global"][:, None], fixed[key]], 1).to(device, torch.float32)
                    streams = self._net.stream_ids(GLOBAL) + self._net.stream_ids(kind)
                    means[row] = self._raw_code(self._embed(features, streams)).mean(0).cpu()
        self._net.train()
        return means

    def _plateau(self, loss: float) -> None:
        s = self._sched
        if loss < s["best"] * (1 - 1e-2):
            s["best"], s["bad"] = loss, 0
            return
        s["bad"] += 1
        if s["bad"] > self._hp("lr_patience"):
            s["lr"], s["bad"] = max(s["lr"] * self._hp("lr_factor"), self._hp("lr_min")), 0
