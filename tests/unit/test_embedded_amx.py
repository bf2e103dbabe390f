"""The embedded model server on a CPU that announces AMX: weights stay out of llama.cpp's
extra buffer types, whose AMX matrix product crashed the server at its first answer on
such a machine (tests/e2e/test_real_model.py runs the real server)."""

from __future__ import annotations

import pytest

from localroute import embedded

llama_native = pytest.importorskip(
    "llama_cpp.llama_cpp", reason="llama-cpp-python is not installed (the `local` extra)"
)

WITH_AMX = (
    "processor\t: 0\n"
    "flags\t\t: fpu sse2 avx2 avx512f amx_bf16 avx512_fp16 amx_tile amx_int8\n"
    "processor\t: 1\n"
)
WITHOUT_AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"


def test_amx_is_read_from_the_cpu_flags() -> None:
    assert embedded.cpu_has_amx(WITH_AMX)
    assert not embedded.cpu_has_amx(WITHOUT_AMX)
    # A word that only contains the flag's name is not the flag.
    assert not embedded.cpu_has_amx("flags\t: no_amx_int8x\nmodel name\t: amx_int8 inside\n")


def test_on_an_amx_cpu_models_load_without_extra_buffer_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        llama_native, "llama_model_default_params", llama_native.llama_model_default_params
    )
    assert llama_native.llama_model_default_params().use_extra_bufts is True  # llama.cpp's default
    assert embedded.keep_weights_off_amx(WITH_AMX) is True
    params = llama_native.llama_model_default_params()
    assert params.use_extra_bufts is False
    # Nothing else of the defaults changes.
    monkeypatch.undo()
    default = llama_native.llama_model_default_params()
    plain = [
        name
        for name, *_ in params._fields_
        if isinstance(getattr(default, name), int | float) and name != "use_extra_bufts"
    ]
    assert "n_gpu_layers" in plain
    for name in plain:
        assert getattr(params, name) == getattr(default, name), name


def test_elsewhere_the_defaults_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    original = llama_native.llama_model_default_params
    monkeypatch.setattr(llama_native, "llama_model_default_params", original)
    assert embedded.keep_weights_off_amx(WITHOUT_AMX) is False
    assert llama_native.llama_model_default_params is original
    assert llama_native.llama_model_default_params().use_extra_bufts is True
