"""SGMA's checkpoint state: which tensors it keeps under which keys, and loading them back, checked.

Why apart from ``method.py``: the state's layout (the net's tensors, the code means, the members, the plateau
schedule, the SGD momentum as ``optim.<name>.<key>``) is one job, read when checkpoints change. ``SGMAState``
is a mixin of ``method.SGMA`` and expects from it ``_net``, ``_new_net``, ``_hp``, ``device``, ``_code_mean``,
``_own_mean``, ``_members``, ``_member_means``, ``_sched``, ``_optimizer`` and ``_pending_optim``.
"""

from __future__ import annotations

import math

import torch

from .members import member_state, members_from
from .parts import NET_PARAMETERS


class SGMAState:
    """``state_dict`` and ``load_state_dict`` (tensors and numbers only: checkpoints load with weights_only)."""

    def state_dict(self) -> dict:
        """Parameters, buffers, the plateau schedule and the SGD momentum (``optim.<name>.<key>``)."""
        state = {n: self._net.parameter(n).detach().clone() for n in NET_PARAMETERS}
        state["att.channel_scale"] = self._net.att.channel_scale.detach().clone()
        state["trained"] = self._net.trained.detach().clone()
        state["code_mean"] = self._code_mean.clone()
        if self._members:  # several final models: each member's tensors and mean, and this model's own mean
            state.update(member_state(self._members, self._member_means))
            state["own_code_mean"] = self._own_mean.clone()
        state["sched.lr"] = torch.tensor(float(self._sched["lr"]), dtype=torch.float64)
        state["sched.best"] = torch.tensor(float(self._sched["best"]), dtype=torch.float64)
        state["sched.bad"] = torch.tensor(int(self._sched["bad"]))
        optim = None
        if self._optimizer is not None:
            optim = self._optimizer.state_dict()["state"]
        elif self._pending_optim is not None:
            optim = self._pending_optim
        for index, name in enumerate(NET_PARAMETERS):
            for key, value in ((optim or {}).get(index) or {}).items():
                state[f"optim.{name}.{key}"] = (
                    value.detach().clone() if isinstance(value, torch.Tensor) else torch.tensor(value)
                )
        return state

    def load_state_dict(self, state: dict) -> None:
        missing = [n for n in (*NET_PARAMETERS, "att.channel_scale", "trained") if n not in state]
        if missing:
            raise ValueError(f"sgma: the state has no {', '.join(missing)}")
        net = self._new_net()
        with torch.no_grad():
            for n in NET_PARAMETERS:
                target, value = net.parameter(n), torch.as_tensor(state[n], dtype=torch.float32)
                if value.shape != target.shape:
                    raise ValueError(
                        f"sgma: {n} is {tuple(value.shape)} in the state, the model needs "
                        f"{tuple(target.shape)} (other parts, attributes, classes or backbone?)"
                    )
                target.copy_(value)
            net.att.channel_scale.copy_(torch.as_tensor(state["att.channel_scale"], dtype=torch.float32))
            net.trained.copy_(torch.as_tensor(state["trained"], dtype=torch.float32))
        self._net = net.to(self.device)
        self._net.eval()
        code_mean = torch.as_tensor(state.get("code_mean", torch.zeros_like(self._code_mean)), dtype=torch.float32)
        if code_mean.shape != self._code_mean.shape:
            raise ValueError(
                f"sgma: code_mean is {tuple(code_mean.shape)}, the model needs {tuple(self._code_mean.shape)}"
            )
        self._code_mean = code_mean.clone()
        self._members, self._member_means = members_from(state, self._new_net, tuple(code_mean.shape), self.device)
        self._own_mean = torch.as_tensor(state.get("own_code_mean", code_mean), dtype=torch.float32).clone()
        self._sched = {
            "lr": float(state.get("sched.lr", self._hp("lr"))),
            "best": float(state.get("sched.best", math.inf)),
            "bad": int(state.get("sched.bad", 0)),
        }
        optim: dict[int, dict] = {}
        for key, value in state.items():
            if key.startswith("optim."):
                name, sub = key[len("optim.") :].rsplit(".", 1)
                if name in NET_PARAMETERS:
                    optim.setdefault(NET_PARAMETERS.index(name), {})[sub] = torch.as_tensor(value).clone()
        self._optimizer = None  # rebuilt by the next fit(start_epoch > 0), which then loads this
        self._pending_optim = optim or None

    def _load_optimizer(self, optim: dict) -> None:
        current = self._optimizer.state_dict()
        self._optimizer.load_state_dict({"state": optim, "param_groups": current["param_groups"]})
