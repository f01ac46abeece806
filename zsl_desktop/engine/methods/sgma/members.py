"""SGMA's several final models (``final_models``): frozen copies of earlier models and their checkpoint keys.

Why apart from ``method.py``: how members are copied and stored is one job, and the method file is long
enough. The key layout (``member<i>.<name>``, plain tensors) and the freezing are the methods'
shared ``methods/members.py``; which tensors a member keeps is SGMA's own (``MEMBER_TENSORS``).
"""

from __future__ import annotations

import torch

from ..members import frozen, member_count, member_items, member_prefix
from .parts import NET_PARAMETERS, SGMANet

MEMBER_TENSORS = (*NET_PARAMETERS, "att.channel_scale", "trained")  # one net's tensors, as its state stores them


def frozen_copy(net: SGMANet, empty: SGMANet, device) -> SGMANet:
    """``empty`` (a new net of the same shape) holding ``net``'s weights, in eval mode, taking no gradient."""
    empty.load_state_dict(net.state_dict())
    return frozen(empty, device)


def member_state(members: list[SGMANet], means: list[torch.Tensor]) -> dict:
    """``member<i>.<tensor>`` for every member's tensors and ``member<i>.code_mean`` (its own training mean)."""
    state = {}
    for i, (net, mean) in enumerate(zip(members, means)):
        own = {n: net.parameter(n).detach().clone() for n in MEMBER_TENSORS}
        state.update(member_items(i, {**own, "code_mean": mean.clone()}))
    return state


def members_from(state: dict, new_net, mean_shape: tuple, device) -> tuple[list[SGMANet], list[torch.Tensor]]:
    """The frozen members and their means stored in ``state``; ``new_net()`` builds an empty net of this model's
    shape. ValueError when a member is incomplete or its shapes do not fit."""
    members, means = [], []
    for i in range(member_count(state)):
        prefix = member_prefix(i)
        missing = [n for n in (*MEMBER_TENSORS, "code_mean") if prefix + n not in state]
        if missing:
            raise ValueError(f"sgma: the state's members are incomplete (no {prefix + missing[0]})")
        net = new_net()
        with torch.no_grad():
            for n in MEMBER_TENSORS:
                target, value = net.parameter(n), torch.as_tensor(state[prefix + n], dtype=torch.float32)
                if value.shape != target.shape:
                    raise ValueError(
                        f"sgma: {prefix + n} is {tuple(value.shape)}, the model needs {tuple(target.shape)}"
                    )
                target.copy_(value)
        mean = torch.as_tensor(state[prefix + "code_mean"], dtype=torch.float32)
        if tuple(mean.shape) != tuple(mean_shape):
            raise ValueError(f"sgma: {prefix}code_mean is {tuple(mean.shape)}, the model needs {tuple(mean_shape)}")
        members.append(frozen(net, device))
        means.append(mean.clone())
    return members, means
