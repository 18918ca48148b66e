"""capture_hardware: the real CPU and memory, GPUs through a stand-in NVML module.

There is no GPU here, so NVML is replaced by a module that answers like ``pynvml`` from
nvidia-ml-py does on a two-GPU machine, and by ones that fail the way a machine without
a driver does.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from mv_orchestration.capture import hardware
from mv_orchestration.capture.hardware import capture_hardware


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    hardware.clear_cache()
    yield
    hardware.clear_cache()


class NVMLError(Exception):
    pass


def fake_nvml(*, fail_init: bool = False, fail_query: bool = False, as_bytes: bool = False):
    calls: list[str] = []
    gpus = [
        ("NVIDIA H100 80GB HBM3", "GPU-11111111-2222-3333-4444-555555555555", 85_520_809_984),
        ("NVIDIA H100 80GB HBM3", "GPU-66666666-7777-8888-9999-000000000000", 85_520_809_984),
    ]

    def text(value: str) -> Any:
        return value.encode() if as_bytes else value

    def init() -> None:
        calls.append("init")
        if fail_init:
            raise NVMLError("Driver Not Loaded")

    def count() -> int:
        if fail_query:
            raise NVMLError("Unknown Error")
        return len(gpus)

    module = types.ModuleType("pynvml")
    module.NVMLError = NVMLError  # type: ignore[attr-defined]
    module.nvmlInit = init  # type: ignore[attr-defined]
    module.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    module.nvmlSystemGetDriverVersion = lambda: text("550.54.15")  # type: ignore[attr-defined]
    module.nvmlSystemGetCudaDriverVersion_v2 = lambda: 12040  # type: ignore[attr-defined]
    module.nvmlDeviceGetCount = count  # type: ignore[attr-defined]
    module.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    module.nvmlDeviceGetName = lambda h: text(gpus[h][0])  # type: ignore[attr-defined]
    module.nvmlDeviceGetUUID = lambda h: text(gpus[h][1])  # type: ignore[attr-defined]
    module.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(  # type: ignore[attr-defined]
        total=gpus[h][2], free=1, used=2
    )
    module.nvmlDeviceGetCudaComputeCapability = lambda h: (9, 0)  # type: ignore[attr-defined]
    return module, calls


def test_cpu_and_memory_against_the_machine() -> None:
    info = capture_hardware()
    assert info.cpu_logical_cores == os.cpu_count()
    assert info.cpu_available_cores == len(os.sched_getaffinity(0))
    if os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as handle:
            total_kib = int(
                next(line for line in handle if line.startswith("MemTotal:")).split()[1]
            )
        assert info.memory_total_bytes == total_kib * 1024
        with open("/proc/cpuinfo") as handle:
            cpuinfo = handle.read()
        if "model name" in cpuinfo:
            model = cpuinfo.split("model name", 1)[1].split(":", 1)[1].splitlines()[0].strip()
            assert info.cpu_model == model
        if "core id" in cpuinfo:
            assert 1 <= (info.cpu_physical_cores or 0) <= (info.cpu_logical_cores or 0)
    assert capture_hardware() is info


@pytest.mark.parametrize("as_bytes", [False, True])
def test_gpus_through_nvml(monkeypatch: pytest.MonkeyPatch, as_bytes: bool) -> None:
    module, calls = fake_nvml(as_bytes=as_bytes)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    info = capture_hardware()
    assert info.gpu_count == 2
    assert info.gpu_driver_version == "550.54.15"
    assert info.cuda_driver_version == "12.4"
    assert [g.name for g in info.gpus] == ["NVIDIA H100 80GB HBM3"] * 2
    assert info.gpus[1].uuid == "GPU-66666666-7777-8888-9999-000000000000"
    assert info.gpus[0].memory_total_bytes == 85_520_809_984
    assert info.gpus[0].compute_capability == "9.0"
    assert [g.index for g in info.gpus] == [0, 1]
    assert calls == ["init", "shutdown"]
    assert info.to_json()["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"


def test_older_nvml_without_v2_call(monkeypatch: pytest.MonkeyPatch) -> None:
    module, _ = fake_nvml()
    del module.nvmlSystemGetCudaDriverVersion_v2
    module.nvmlSystemGetCudaDriverVersion = lambda: 11080
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert capture_hardware().cuda_driver_version == "11.8"


def test_no_driver_means_no_gpus_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    module, calls = fake_nvml(fail_init=True)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    info = capture_hardware()
    assert (info.gpu_count, info.gpus, info.gpu_driver_version) == (0, [], None)
    assert calls == ["init"]


def test_failing_query_means_no_gpus_and_nvml_is_shut_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, calls = fake_nvml(fail_query=True)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    info = capture_hardware()
    assert (info.gpu_count, info.gpus) == (0, [])
    assert calls == ["init", "shutdown"]


def test_without_nvml_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    info = capture_hardware()
    assert (info.gpu_count, info.gpus, info.cuda_driver_version) == (0, [], None)


def test_real_nvml_without_a_driver() -> None:
    pytest.importorskip("pynvml")
    info = capture_hardware()
    assert info.gpu_count == len(info.gpus)


def _fake_torch(initialised: bool) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.__version__ = "2.13.0"  # type: ignore[attr-defined]
    torch.version = types.SimpleNamespace(cuda="12.4")  # type: ignore[attr-defined]
    torch.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        is_available=lambda: True,
        device_count=lambda: 2,
        is_initialized=lambda: initialised,
        get_device_name=lambda i: f"NVIDIA H100 #{i}",
    )
    torch.backends = types.SimpleNamespace(  # type: ignore[attr-defined]
        cudnn=types.SimpleNamespace(version=lambda: 90100),
        mps=types.SimpleNamespace(is_available=lambda: False),
    )
    return torch


def test_torch_accelerators_only_when_torch_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert capture_hardware().torch is None
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(initialised=False))
    seen = capture_hardware().torch
    assert seen is not None
    assert (seen.cuda_available, seen.device_count, seen.cuda_version) == (True, 2, "12.4")
    assert seen.device_names == []
    assert seen.cudnn_version == 90100
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(initialised=True))
    seen = capture_hardware().torch
    assert seen is not None
    assert seen.device_names == ["NVIDIA H100 #0", "NVIDIA H100 #1"]
