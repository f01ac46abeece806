"""Several final models in one state: the ``member<i>.`` keys and the frozen copies every method with
``final_models`` uses (MSDN, SGMA, CE-GZSL / IPCE).

The trainer trains K final models one after another, each next one holding the earlier ones as frozen members
(``Method.adopt_members``). A member is stored under ``member<i>.<key>`` as plain tensors, so a checkpoint
with members still loads with weights_only; a state without such keys is one model, as every state before
``final_models`` was. Each method decides which of a member's tensors it stores; the key layout, the count
and the freezing are written once, here.
"""

from __future__ import annotations

import torch

MEMBER_PREFIX = "member"


def member_prefix(index: int) -> str:
    """``member<index>.``: the prefix of member ``index``'s keys."""
    return f"{MEMBER_PREFIX}{index}."


def member_count(state: dict) -> int:
    """How many members a state holds (0 for a one-model state)."""
    return len({key.split(".", 1)[0] for key in state if key.startswith(MEMBER_PREFIX)})


def member_items(index: int, state: dict) -> dict:
    """``state``'s entries under member ``index``'s prefix."""
    prefix = member_prefix(index)
    return {prefix + key: value for key, value in state.items()}


def member_states(state: dict) -> list[dict]:
    """The members' own states of a saved state, in order; none in older states. ValueError on a gap."""
    out = []
    for i in range(member_count(state)):
        prefix = member_prefix(i)
        sub = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        if not sub:
            raise ValueError(f"the state's members are incomplete (no {prefix}*)")
        out.append(sub)
    return out


def own_items(state: dict) -> dict:
    """The state without the members' entries (the model's own weights, and anything else it keeps)."""
    return {key: value for key, value in state.items() if not key.startswith(MEMBER_PREFIX)}


def frozen(module: torch.nn.Module, device) -> torch.nn.Module:
    """``module`` as a member: on ``device``, in eval mode, its parameters taking no gradient (never trained again)."""
    module.requires_grad_(False)
    return module.to(device).eval()
