"""CE-GZSL's and IPCE's checkpoint tensors: what ``state_dict`` writes and ``load_state_dict`` reads back.

A mixin of ``method._CEGZSLBase`` (as ``sgma/state.py`` and ``gsmflow/state.py`` are for theirs), apart from the
training so that the checkpoint layout reads in one place: G, E, F, prototypes, scaler, classifier head, the
critic and Adam state under ``optim.`` (resume only), each member under ``member<i>.`` (members.py).
"""

from __future__ import annotations

import torch

from ..class_rows import KnownRows
from ..generative import FeatureScaler
from ..members import member_states, own_items
from .members import GENERATOR_PREFIX, member_state_items


class CEGZSLState:
    """``state_dict`` / ``load_state_dict`` of a CE-GZSL or IPCE model (its attributes: ``method._CEGZSLBase``)."""

    def state_dict(self) -> dict:
        """G, E, F, prototypes, scaler, classifier; the critic and Adam state under ``optim.`` (resume only);
        each member's inference state under ``member<i>.`` (members.py)."""
        state = {}
        for i, member in enumerate(self._members):
            state.update(member_state_items(i, member.state_dict()))
        for prefix, module in (("G.", self._G), ("E.", self._E), ("F.", self._F), ("optim.critic.", self._D)):
            state.update({prefix + k: v.detach().cpu().clone() for k, v in module.state_dict().items()})
        if self._proto is not None:
            state["proto"] = self._proto.detach().cpu().clone()
            state["proto_trained"] = self._proto_trained.to(torch.uint8).clone()
        if self._scaler is not None:
            state.update(self._scaler.state("scaler."))
        if self._head is not None:
            state["head.class_rows"] = torch.from_numpy(self._head["class_rows"].copy())
            for key in ("weight", "bias", "calibration"):
                state[f"head.{key}"] = self._head[key].clone()
        for name, opt in (("D", self._opt_d), ("G", self._opt_g)):
            optim = opt.state_dict()["state"] if opt is not None else (self._pending_optim or {}).get(name)
            for index, per_param in (optim or {}).items():
                for key, value in per_param.items():
                    state[f"optim.{name}.{index}.{key}"] = torch.as_tensor(value).detach().cpu().clone()
        return state

    def load_state_dict(self, state: dict) -> None:
        if "G.fc1.weight" not in state:
            raise ValueError(f"{self.name}: the state has no generator (not a CE-GZSL/IPCE state)")
        self._load(state)

    def _load(self, state: dict) -> None:
        """``load_state_dict`` without asking for a generator: a member's state has none (members.py); states
        saved before session 10 have one under every member, loaded and never used."""
        if (self.variant == "ipce") != ("proto" in state):
            raise ValueError(f"{self.name}: the state is from the other variant (ipce vs ce-gzsl)")
        try:
            saved_members = member_states(state)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        state = own_items(state)
        members = []
        for sub in saved_members:
            member = type(self)(self.info, self.hparams)
            member._load(sub)
            members.append(member)
        self._members = members
        self._parts.clear()
        self._build()
        self._has_generator = any(key.startswith(GENERATOR_PREFIX) for key in state)
        for prefix, module in (("G.", self._G), ("E.", self._E), ("F.", self._F)):
            if module is self._G and not self._has_generator:
                continue  # a member: its generator stays untrained and unused (_synthesize_scaled refuses it)
            module.load_state_dict(
                {k[len(prefix) :]: torch.as_tensor(v).float() for k, v in state.items() if k.startswith(prefix)}
            )
        critic = {
            k[len("optim.critic.") :]: torch.as_tensor(v).float()
            for k, v in state.items()
            if k.startswith("optim.critic.")
        }
        if critic:
            self._D.load_state_dict(critic)
        if self._proto is not None:
            with torch.no_grad():
                self._proto.copy_(torch.as_tensor(state["proto"]).float())
            self._proto_trained = torch.as_tensor(state["proto_trained"]).bool().clone()
        self._scaler = FeatureScaler.from_state(state, "scaler.") if "scaler.lo" in state else None
        self._head = None
        if "head.weight" in state:
            rows = torch.as_tensor(state["head.class_rows"]).float().numpy()
            self._head = {"class_rows": rows, "keys": KnownRows(rows)}
            for key in ("weight", "bias", "calibration"):
                self._head[key] = torch.as_tensor(state[f"head.{key}"]).float().clone()
        optim: dict = {}
        for key, value in state.items():
            if key.startswith("optim.") and not key.startswith("optim.critic."):
                name, index, sub = key[len("optim.") :].split(".", 2)
                optim.setdefault(name, {}).setdefault(int(index), {})[sub] = torch.as_tensor(value).clone()
        self._opt_d = self._opt_g = None
        self._pending_optim = optim or None
        self._known_cache = self._column_cache = None
        for module in self._modules():
            module.eval()
        self.to(self.device)
