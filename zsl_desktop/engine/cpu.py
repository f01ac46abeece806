"""Which CPU a measurement ran on: its model name and the instruction sets that change our speed.

Why: the bench's figures moved by 2-3x between a Xeon with AVX-512, bfloat16 and AMX and an
AVX2-only EPYC (issue 19), so every bench run names its machine. Read from /proc/cpuinfo
(Linux); elsewhere the model comes from ``platform`` and the flags are unknown.

A run can also cap the kernels below what the CPU has, to emulate an older CPU: torch's own kernels
(``ATEN_CPU_CAPABILITY``), oneDNN's convolutions (``ONEDNN_MAX_CPU_ISA``) and MKL's products
(``MKL_ENABLE_INSTRUCTIONS``). The flags still read the CPU's, so the line says which caps were set.
"""

from __future__ import annotations

import os
import platform

# The instruction sets our kernels care about: AVX2 (every x86 CPU we support), AVX-512,
# native bfloat16 (else bf16 training is emulated and we train in fp32) and AMX (bf16 matmuls).
INSTRUCTION_SETS = ("avx2", "avx512f", "avx512_bf16", "amx")
# (library, its variables) whose kernels an environment variable caps; oneDNN reads its older name too.
KERNEL_CAPS = (("oneDNN", ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")), ("MKL", ("MKL_ENABLE_INSTRUCTIONS",)))
TORCH_CAP = "ATEN_CPU_CAPABILITY"
# oneDNN's instruction-set caps below its first with bfloat16 dot products (AVX512_CORE_BF16).
ONEDNN_BELOW_BF16 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"})


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in a /proc/cpuinfo text; ("", {}) when absent."""
    model, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:  # "Features" on ARM
            flags = frozenset(value.split())
    return model, flags


def has_instruction_set(flags: frozenset[str], name: str) -> bool:
    """AMX is three flags (amx_tile, amx_bf16, amx_int8): any counts; the others are one flag each."""
    if name == "amx":
        return any(f.startswith("amx") for f in flags)
    return name in flags


def cpu_line(
    model: str, flags: frozenset[str] | None, cores: int, torch_kernels: str | None = None, environ=None
) -> str:
    """One line for a bench report, e.g. ``CPU: Intel Xeon, 2 cores; avx2 yes, avx512f no, ...; torch kernels AVX2``.

    ``flags`` None means the flags could not be read (not Linux): each set is "unknown", never "no".
    ``environ`` (default: none set) names the caps on the kernels (``kernel_caps``).
    """
    sets = ", ".join(
        f"{name} {'?' if flags is None else ('yes' if has_instruction_set(flags, name) else 'no')}"
        for name in INSTRUCTION_SETS
    )
    line = f"CPU: {model or 'unknown model'}, {cores} core{'s' if cores != 1 else ''}; {sets}"
    environ = environ or {}
    if torch_kernels:
        line += f"; torch kernels {torch_kernels}"
        if environ.get(TORCH_CAP):
            line += f" (capped by {TORCH_CAP}={environ[TORCH_CAP]})"
    return "; ".join([line, *kernel_caps(environ)])


def kernel_caps(environ) -> list[str]:
    """ "oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA)" for each library whose kernels ``environ`` caps."""
    caps = []
    for library, names in KERNEL_CAPS:
        name = next((n for n in names if environ.get(n)), None)
        if name is not None:
            caps.append(f"{library} capped at {environ[name]} ({name})")
    return caps


def native_bf16(flags: frozenset[str] | None, environ) -> bool | None:
    """Whether bfloat16 matrix products can run natively here: None when the flags are unknown (measure).

    They need avx512_bf16 or AMX, and oneDNN (which runs torch's bfloat16 products on the CPU) not capped
    below its first bfloat16 level (``ONEDNN_MAX_CPU_ISA`` SSE41 ... AVX512_CORE_VNNI). Else they are
    emulated: 0.01-0.03x float32's speed under the AVX2 caps (docs/history/performance.md, session 10).
    """
    if flags is None:
        return None
    if not (has_instruction_set(flags, "avx512_bf16") or has_instruction_set(flags, "amx")):
        return False
    names = dict(KERNEL_CAPS)["oneDNN"]
    cap = next((str(environ[n]).strip().upper() for n in names if environ.get(n)), "")
    return cap not in ONEDNN_BELOW_BF16


def this_cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The instruction-set flags of this machine's CPU; None where they cannot be read (not Linux)."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            return parse_cpuinfo(f.read())[1] or None
    except OSError:
        return None


def torch_kernel_level() -> str | None:
    """The widest vector kernels torch picked on this CPU ("AVX512", "AVX2", "DEFAULT"), when it says."""
    try:
        import torch

        return str(torch.backends.cpu.get_cpu_capability())
    except (ImportError, AttributeError, RuntimeError):
        return None


def describe_this_cpu(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """The CPU line of the machine this process runs on."""
    from zsl_desktop.engine.threads import cores

    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            model, flags = parse_cpuinfo(f.read())
    except OSError:
        model, flags = "", None
    if not flags:
        flags = None  # no flags line: unknown, not "none of them"
    return cpu_line(
        model or platform.processor() or platform.machine(), flags, cores(), torch_kernel_level(), os.environ
    )
