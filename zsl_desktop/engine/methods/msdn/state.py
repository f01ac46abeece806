"""MSDN's checkpoint state: which tensors it keeps under which keys, and loading them back, checked.

Why apart from ``method.py``: the state's layout is one job, read when checkpoints change: the net's parameters,
the frozen members' under ``member<i>.``, the training rows' mean code (when centred), the region projection (with
``region_channels``) and the RMSprop state as ``optim.<parameter>.<key>``. ``MSDNState`` is a mixin of
``method.MSDN`` and expects from it ``info``, ``device``, ``_net``, ``_members``, ``_code_mean``, ``_optimizer``
and ``_pending_optim``.
"""

from __future__ import annotations

import torch

from ..members import member_count, member_items, member_prefix
from .nets import PARAMETER_NAMES, frozen_copy, net_from


class MSDNState:
    """``state_dict`` and ``load_state_dict`` (tensors only: checkpoints load with weights_only)."""

    def state_dict(self) -> dict:
        """Parameters, the members' under ``member<i>.<parameter>``, and the RMSprop state under
        ``optim.<parameter>.<key>`` (tensors only); ``code_mean`` only when centred and ``projection`` only with
        ``region_channels`` (older states have neither)."""
        state = {n: getattr(self._net, n).detach().clone() for n in PARAMETER_NAMES}
        state.update(self._projection_items())
        if bool((self._code_mean != 0).any()):
            state["code_mean"] = self._code_mean.clone()
        for i, net in enumerate(self._members):
            state.update(member_items(i, {n: getattr(net, n).detach().clone() for n in PARAMETER_NAMES}))
        optim = None
        if self._optimizer is not None:
            optim = self._optimizer.state_dict()["state"]
        elif self._pending_optim is not None:
            optim = self._pending_optim
        for index, name in enumerate(PARAMETER_NAMES):
            for key, value in ((optim or {}).get(index) or {}).items():
                state[f"optim.{name}.{key}"] = (
                    value.detach().clone() if isinstance(value, torch.Tensor) else torch.tensor(value)
                )
        return state

    def _projection_items(self) -> dict:
        """``projection`` [C, k] once, as every final model shares it (``MSDN._region_projection``); {} without one."""
        shared = self._net.projection
        for net in self._members:
            same = (net.projection is None) == (shared is None) and (
                shared is None or torch.equal(net.projection.cpu(), shared.cpu())
            )
            if not same:
                raise ValueError("msdn: the final models do not share one region projection")
        return {} if shared is None else {"projection": shared.detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        missing = [n for n in PARAMETER_NAMES if n not in state]
        if missing:
            raise ValueError(f"msdn: the state has no {', '.join(missing)}")
        v = torch.as_tensor(state["V"])
        num_attributes, channels = len(self.info.attribute_names), int(self.info.channels)
        projection = state.get("projection")  # [C, k] (region_channels), absent when every channel is used
        if projection is not None:
            projection = torch.as_tensor(projection, dtype=torch.float32)
            if projection.ndim != 2 or projection.shape[0] != channels:
                raise ValueError(
                    f"msdn: the projection is {tuple(projection.shape)}, this model has {channels} channels"
                )
        width = channels if projection is None else int(projection.shape[1])
        if v.shape[0] != num_attributes or torch.as_tensor(state["W_1"]).shape[1] != width:
            raise ValueError(
                f"msdn: the state is for {v.shape[0]} attributes and "
                f"{torch.as_tensor(state['W_1']).shape[1]} channels, this model has "
                f"{num_attributes} and {width}"
            )
        self._net = net_from(state, "", num_attributes, channels, projection).to(self.device)
        self._net.eval()
        code_mean = torch.as_tensor(state.get("code_mean", torch.zeros(num_attributes)), dtype=torch.float32)
        if code_mean.shape != (num_attributes,):
            raise ValueError(f"msdn: code_mean is {tuple(code_mean.shape)}, the model has {num_attributes} attributes")
        self._code_mean = code_mean.clone()
        try:
            self._members = [
                frozen_copy(net_from(state, member_prefix(i), num_attributes, channels, projection), self.device)
                for i in range(member_count(state))
            ]
        except KeyError as exc:
            raise ValueError(f"msdn: the state's members are incomplete (no {exc.args[0]})") from None
        optim: dict[int, dict] = {}
        for key, value in state.items():
            if key.startswith("optim."):
                name, sub = key[len("optim.") :].rsplit(".", 1)
                if name in PARAMETER_NAMES:
                    optim.setdefault(PARAMETER_NAMES.index(name), {})[sub] = torch.as_tensor(value).clone()
        self._optimizer = None  # rebuilt by the next fit(start_epoch > 0), which then loads this
        self._pending_optim = optim or None

    def _load_optimizer(self, optim: dict) -> None:
        current = self._optimizer.state_dict()
        self._optimizer.load_state_dict({"state": optim, "param_groups": current["param_groups"]})
