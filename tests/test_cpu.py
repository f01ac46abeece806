"""The bench's CPU line: which machine gave the figures (issue 19). Formatting only, no timing."""

from zsl_desktop.bench.rows import Row, progress_line
from zsl_desktop.engine.cpu import (
    cpu_line,
    describe_this_cpu,
    has_instruction_set,
    native_bf16,
    parse_cpuinfo,
    this_cpu_flags,
)

XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8
"""

EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx avx2 fma bmi2
"""


def test_a_xeon_with_every_instruction_set():
    model, flags = parse_cpuinfo(XEON)
    assert model == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
    assert cpu_line(model, flags, 2, "AVX512") == (
        "CPU: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz, 2 cores; "
        "avx2 yes, avx512f yes, avx512_bf16 yes, amx yes; torch kernels AVX512"
    )


def test_an_avx2_only_epyc_says_no_to_the_rest():
    model, flags = parse_cpuinfo(EPYC)
    assert cpu_line(model, flags, 1) == "CPU: AMD EPYC 7B12, 1 core; avx2 yes, avx512f no, avx512_bf16 no, amx no"


def test_amx_is_any_of_its_flags_and_bf16_is_not_avx512f():
    assert has_instruction_set(frozenset({"amx_tile"}), "amx")
    assert not has_instruction_set(frozenset({"avx512_bf16"}), "avx512f")
    assert not has_instruction_set(frozenset({"avx512f"}), "avx512_bf16")


def test_unreadable_flags_are_unknown_not_absent():
    assert parse_cpuinfo("") == ("", frozenset())
    line = cpu_line("", None, 4)
    assert line == "CPU: unknown model, 4 cores; avx2 ?, avx512f ?, avx512_bf16 ?, amx ?"


def test_arm_features_line_is_read_as_flags():
    model, flags = parse_cpuinfo("processor\t: 0\nFeatures\t: fp asimd sve\n")
    assert model == "" and "asimd" in flags
    assert "avx2 no" in cpu_line("aarch64", flags, 8)


def test_this_machine_has_a_line(tmp_path):
    line = describe_this_cpu()
    assert line.startswith("CPU: ") and "avx2 " in line and " core" in line
    missing = describe_this_cpu(str(tmp_path / "no-cpuinfo"))  # not Linux: the flags are unknown
    assert "avx2 ?" in missing


def test_each_figure_is_said_as_it_is_measured():
    assert (
        progress_line(Row("rescore", "msdn p95", 0.184, "ms", "<= 8", True))
        == "  rescore: msdn p95: 0.18 ms, target <= 8 (met)"
    )
    assert progress_line(Row("train", "gsmflow", 3.0, "s/epoch", "<= 0.73", False)).endswith("(NOT met)")
    assert progress_line(Row("app", "unavailable", float("nan"), "")) == "  app: unavailable: n/a"


def test_capped_kernels_are_named_with_the_variable_that_caps_them():
    """An AVX2-only CPU emulated on a wider one: the flags are the CPU's, the line says which kernels were capped."""
    model, flags = parse_cpuinfo(XEON)
    caps = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    assert cpu_line(model, flags, 2, "AVX2", caps).endswith(
        "avx2 yes, avx512f yes, avx512_bf16 yes, amx yes; torch kernels AVX2 (capped by ATEN_CPU_CAPABILITY=avx2); "
        "oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA); MKL capped at AVX2 (MKL_ENABLE_INSTRUCTIONS)"
    )
    assert cpu_line(model, flags, 2, "AVX512", {"DNNL_MAX_CPU_ISA": "AVX2", "PATH": "/bin"}).endswith(
        "torch kernels AVX512; oneDNN capped at AVX2 (DNNL_MAX_CPU_ISA)"
    )
    assert "capped" not in cpu_line(model, flags, 2, "AVX512", {"ATEN_CPU_CAPABILITY": ""})


def test_this_machine_names_the_caps_it_runs_under(monkeypatch):
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    assert describe_this_cpu().endswith("; MKL capped at AVX2 (MKL_ENABLE_INSTRUCTIONS)")


def test_native_bf16_needs_the_flags_and_no_onednn_cap_below_them(tmp_path):
    xeon, epyc = parse_cpuinfo(XEON)[1], parse_cpuinfo(EPYC)[1]
    assert native_bf16(xeon, {}) is True
    assert native_bf16(epyc, {}) is False  # AVX2 only: emulated
    assert native_bf16(xeon, {"ONEDNN_MAX_CPU_ISA": "AVX2"}) is False  # session 10's emulation
    assert native_bf16(xeon, {"DNNL_MAX_CPU_ISA": "avx512_core"}) is False  # the older name, any case
    assert native_bf16(xeon, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}) is True  # capped above bf16
    assert native_bf16(frozenset({"avx2", "amx_tile"}), {}) is True  # AMX alone
    assert native_bf16(None, {}) is None  # unknown: the caller measures
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(EPYC)
    assert this_cpu_flags(str(cpuinfo)) == epyc
    assert this_cpu_flags(str(tmp_path / "absent")) is None
