"""VALIDATION ONLY (session 12, ipcetrain12): fold_members.py with a training-side change patched in, for a screen.

Not a method option: the fold model trains as today except for the change named among the key=value arguments:
``ema=D`` an exponential moving average of E, F, G (and IPCE's prototypes), updated after every generator step with
per-step decay D (0.97: a half-life of ~23 steps, ~3 epochs of the CUB subset's ~8 batches); at each epoch's end the
averaged weights are loaded before the softmax head is fitted and the held-out images are scored, and the raw
weights come back before the next training step.
``g_decay=E:S`` the generator's learning rate times S from epoch E + 1 on (the critic, E and F keep theirs).
Question (issue #15): does a flatter, less noisy validation curve (session 11: "flat and noisy after ~30 epochs")
make the chosen epoch matter less? ``ema=0`` and ``g_decay=1:1.0`` repeat fold_members.py bit for bit (checked on
seed 0 fold 0, 3 epochs).
usage: fold_members_screen.py METHOD SEED K OUT.npz FIRST COUNT [ema=D] [g_decay=E:S] [key=value ...]"""

import runpy
import sys
from pathlib import Path

import torch

from zsl_desktop.engine.methods.ce_gzsl.method import CEGZSL, IPCE

options = dict(a.split("=", 1) for a in sys.argv[7:] if a.split("=")[0] in ("ema", "g_decay"))
sys.argv = [a for a in sys.argv if a.split("=")[0] not in ("ema", "g_decay")]
decay = float(options["ema"]) if "ema" in options else None
g_after, g_scale = (
    (int(options["g_decay"].split(":")[0]), float(options["g_decay"].split(":")[1]))
    if "g_decay" in options
    else (None, 1.0)
)


def averaged_tensors(method):
    """The tensors the EMA follows: E, F, G's parameters and buffers, and IPCE's prototypes."""
    out = []
    for module in (method._E, method._F, method._G):
        out.extend(module.parameters())
        out.extend(b for b in module.buffers() if b.is_floating_point())
    if method._proto is not None:
        out.append(method._proto)
    return out


original_generator_step = CEGZSL._generator_step
original_critic_step = CEGZSL._critic_step
original_fit_classifier = CEGZSL._fit_classifier


def restore_raw(method):
    raw = getattr(method, "_screen_raw", None)
    if raw is not None:
        with torch.no_grad():
            for t, r in zip(averaged_tensors(method), raw):
                t.copy_(r)
        method._screen_raw = None


def critic_step(self, *args, **kwargs):
    restore_raw(self)
    return original_critic_step(self, *args, **kwargs)


def generator_step(self, *args, **kwargs):
    if g_after is not None and getattr(self, "_screen_epochs_done", 0) >= g_after:
        for group in self._opt_g.param_groups:  # fit set today's lr at the epoch's start
            group["lr"] = self._opt_d.param_groups[0]["lr"] * g_scale
    out = original_generator_step(self, *args, **kwargs)
    if decay is None:
        return out
    with torch.no_grad():
        tensors = averaged_tensors(self)
        if getattr(self, "_screen_ema", None) is None:
            self._screen_ema = [t.detach().clone() for t in tensors]
        else:
            for e, t in zip(self._screen_ema, tensors):
                e.mul_(decay).add_(t.detach(), alpha=1 - decay)
    return out


def fit_classifier(self, *args, **kwargs):
    self._screen_epochs_done = getattr(self, "_screen_epochs_done", 0) + 1  # one head per epoch's end
    if getattr(self, "_screen_ema", None) is not None:
        with torch.no_grad():
            tensors = averaged_tensors(self)
            self._screen_raw = [t.detach().clone() for t in tensors]
            for t, e in zip(tensors, self._screen_ema):
                t.copy_(e)
    return original_fit_classifier(self, *args, **kwargs)


for cls in (CEGZSL, IPCE):
    cls._generator_step = generator_step
    cls._critic_step = critic_step
    cls._fit_classifier = fit_classifier
runpy.run_path(str(Path(__file__).with_name("fold_members.py")), run_name="__main__")
