"""GSMFlow's checkpoint state: which tensors it keeps under which keys, and loading them back, checked.

Why apart from ``method.py``: the state's layout is one job, read when checkpoints change: the generator (flow and
relative positioning) as float16 with its float32 remainders under ``optim.rest.`` (resume only), the scaler, the
classifier head, and the resume state under ``optim.`` (Adam, the mined rows, the synthetic pool, the earlier
final models' rows). ``GSMFlowState`` is a mixin of ``method.GSMFlow`` and expects from it ``_flow``, ``_gsm``,
``_build``, ``info``, ``device``, ``to``, ``_scaler``, ``_head``, ``_pending_head``, ``_optimizer``,
``_pending_optim``, ``_mined``, ``_pool`` and ``_member_rows``.
"""

from __future__ import annotations

import torch

from ..generative import FeatureScaler
from ..gzsl_head import GZSLHead


class GSMFlowState:
    """``state_dict`` and ``load_state_dict`` (tensors only: checkpoints load with weights_only)."""

    def _generator_modules(self):
        return (("flow.", self._flow), ("gsm.", self._gsm))

    @torch.no_grad()
    def _round_generator(self) -> None:
        for _, module in self._generator_modules():
            for p in module.parameters():
                p.copy_(p.half().float())

    def state_dict(self) -> dict:
        """Generator weights as float16 (half the file; 2e-4 relative change in prototypes and samples,
        measured), their float32 remainders, the Adam state and the mined rows under ``optim.``
        (resume only: a resumed run continues from the exact weights), scaler and classifier head.
        """
        state = {}
        for prefix, module in self._generator_modules():
            for k, v in module.state_dict().items():
                v = v.detach().cpu()
                if k == "anchors":
                    state[prefix + k] = v.clone()
                    continue
                state[prefix + k] = v.half()
                state["optim.rest." + prefix + k] = v - v.half().float()
        if self._scaler is not None:
            state.update(self._scaler.state("scaler."))
        if self._head is not None:  # None while a finished epoch's classifier is still pending
            state.update(self._head.state("head."))
        optim = self._optimizer.state_dict()["state"] if self._optimizer is not None else self._pending_optim
        for index, per_param in (optim or {}).items():
            for key, value in per_param.items():
                state[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().clone()
        if self._mined is not None:
            state["optim.mined_x"], state["optim.mined_y"] = self._mined[0].detach().cpu(), self._mined[1].cpu()
        for j, part in enumerate(self._pool):
            state[f"optim.pool.{j}"] = part.detach().cpu().clone()
        if self._member_rows is not None:  # resume only: the finished classifier has learnt from them
            state["optim.members.rows"] = self._member_rows.detach().cpu().clone()
        return state

    def load_state_dict(self, state: dict) -> None:
        if "gsm.anchors" not in state:
            raise ValueError("gsmflow: the state has no gsm.anchors (not a GSMFlow state)")
        anchors = torch.as_tensor(state["gsm.anchors"]).float()
        if anchors.shape[1] != len(self.info.attribute_names):
            raise ValueError(
                f"gsmflow: the state is for {anchors.shape[1]} attributes, "
                f"this model has {len(self.info.attribute_names)}"
            )
        self._build(anchors)

        def weights(prefix):  # float16 weights plus their float32 remainders when the state has them
            return {
                k[len(prefix) :]: torch.as_tensor(v).float() + torch.as_tensor(state.get("optim.rest." + k, 0.0))
                for k, v in state.items()
                if k.startswith(prefix)
            }

        for prefix, module in self._generator_modules():
            module.load_state_dict(weights(prefix))
        self._flow.eval()
        self._scaler = FeatureScaler.from_state(state, "scaler.") if "scaler.lo" in state else None
        self._head, self._pending_head = GZSLHead.from_state(state, "head."), None
        optim: dict[int, dict] = {}
        for key, value in state.items():
            if key.startswith("optim.") and not key.startswith(
                ("optim.mined_", "optim.rest.", "optim.pool.", "optim.members.")
            ):
                index, sub = key[len("optim.") :].split(".", 1)
                optim.setdefault(int(index), {})[sub] = torch.as_tensor(value).clone()
        self._optimizer, self._pending_optim = None, optim or None
        self._mined = None
        if "optim.mined_x" in state:
            self._mined = (
                torch.as_tensor(state["optim.mined_x"]).float(),
                torch.as_tensor(state["optim.mined_y"]).long(),
            )
        pooled = sorted(int(k[len("optim.pool.") :]) for k in state if k.startswith("optim.pool."))
        self._pool = [torch.as_tensor(state[f"optim.pool.{j}"]).clone() for j in pooled]
        members = state.get("optim.members.rows")
        self._member_rows = torch.as_tensor(members).clone() if members is not None else None
        self.to(self.device)
