"""The hardware of a run: CPU, memory, GPUs (through NVML) and torch's accelerators.

GPUs are read through NVML (the ``pynvml`` module of ``nvidia-ml-py``) when it is
installed and a driver answers; without either the GPU list is empty, never an error.
Torch is asked only when user code already imported it, and device names are read from
it only once CUDA is initialised, so capture never creates a CUDA context itself.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from mv_orchestration.capture.jsonform import JsonForm

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GPUInfo(JsonForm):
    """One GPU as NVML reports it."""

    index: int
    name: str
    uuid: str | None = None
    memory_total_bytes: int | None = None
    compute_capability: str | None = None


@dataclass(frozen=True)
class TorchAccelerators(JsonForm):
    """What the already imported torch sees."""

    torch_version: str
    cuda_available: bool
    cuda_version: str | None = None
    cudnn_version: int | None = None
    device_count: int = 0
    device_names: list[str] = field(default_factory=list)
    mps_available: bool = False


@dataclass(frozen=True)
class HardwareInfo(JsonForm):
    """CPU, memory, GPUs and accelerators of the machine a run is on."""

    cpu_model: str | None
    cpu_physical_cores: int | None
    cpu_logical_cores: int | None
    cpu_available_cores: int | None
    memory_total_bytes: int | None
    gpu_count: int
    gpus: list[GPUInfo]
    gpu_driver_version: str | None = None
    cuda_driver_version: str | None = None
    torch: TorchAccelerators | None = None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _cpu() -> tuple[str | None, int | None]:
    """CPU model and physical core count from /proc/cpuinfo (or ``platform`` elsewhere)."""
    text = _read("/proc/cpuinfo")
    if text is None:
        return platform.processor() or None, None
    model = None
    cores: set[tuple[str, str]] = set()
    physical_id = core_id = None
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in ("model name", "Model", "Hardware", "cpu model") and model is None:
            model = value or None
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            core_id = value
        elif not key:
            if core_id is not None:
                cores.add((physical_id or "0", core_id))
            physical_id = core_id = None
    return model or platform.processor() or None, len(cores) or None


def _memory_total() -> int | None:
    text = _read("/proc/meminfo")
    if text is not None:
        for line in text.splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _available_cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _cuda_version(value: int) -> str:
    return f"{value // 1000}.{value % 1000 // 10}"


def _nvml() -> tuple[list[GPUInfo], str | None, str | None]:
    """GPUs, driver version and CUDA driver version through NVML, or nothing."""
    try:
        import pynvml
    except ImportError:
        return [], None, None
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        logger.debug("NVML unavailable: %s", exc)
        return [], None, None
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        get_cuda = getattr(pynvml, "nvmlSystemGetCudaDriverVersion_v2", None)
        if get_cuda is None:
            get_cuda = pynvml.nvmlSystemGetCudaDriverVersion
        cuda = _cuda_version(int(get_cuda()))
        gpus = [_gpu(pynvml, index) for index in range(int(pynvml.nvmlDeviceGetCount()))]
        return gpus, driver, cuda
    except Exception as exc:
        logger.warning("NVML query failed: %s", exc)
        return [], None, None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception as exc:
            logger.debug("NVML shutdown failed: %s", exc)


def _gpu(pynvml: Any, index: int) -> GPUInfo:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    try:
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        capability: str | None = f"{major}.{minor}"
    except Exception:
        capability = None
    return GPUInfo(
        index=index,
        name=_text(pynvml.nvmlDeviceGetName(handle)),
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
        memory_total_bytes=int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
        compute_capability=capability,
    )


def _torch() -> TorchAccelerators | None:
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "cuda"):
        return None
    try:
        available = bool(torch.cuda.is_available())
        count = int(torch.cuda.device_count()) if available else 0
        names = []
        if available and torch.cuda.is_initialized():
            names = [str(torch.cuda.get_device_name(i)) for i in range(count)]
        cudnn = torch.backends.cudnn.version() if available else None
        mps = getattr(torch.backends, "mps", None)
        return TorchAccelerators(
            torch_version=str(torch.__version__),
            cuda_available=available,
            cuda_version=torch.version.cuda,
            cudnn_version=cudnn,
            device_count=count,
            device_names=names,
            mps_available=bool(mps is not None and mps.is_available()),
        )
    except Exception as exc:
        logger.warning("could not query torch accelerators: %s", exc)
        return None


_LOCK = threading.Lock()
_BASE: dict[str, HardwareInfo] = {}
_WITH_TORCH: dict[tuple[bool, bool], HardwareInfo] = {}


def _torch_key() -> tuple[bool, bool]:
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "cuda"):
        return False, False
    return True, bool(torch.cuda.is_initialized())


def _base() -> HardwareInfo:
    cached = _BASE.get("base")
    if cached is None:
        model, physical = _cpu()
        gpus, driver, cuda = _nvml()
        cached = HardwareInfo(
            cpu_model=model,
            cpu_physical_cores=physical,
            cpu_logical_cores=os.cpu_count(),
            cpu_available_cores=_available_cores(),
            memory_total_bytes=_memory_total(),
            gpu_count=len(gpus),
            gpus=gpus,
            gpu_driver_version=driver,
            cuda_driver_version=cuda,
        )
        _BASE["base"] = cached
    return cached


def capture_hardware() -> HardwareInfo:
    """The hardware of this machine, cached per process (torch's view once it is imported)."""
    key = _torch_key()
    cached = _WITH_TORCH.get(key)
    if cached is not None:
        return cached
    with _LOCK:
        info = _base()
        if key[0]:
            info = replace(info, torch=_torch())
        _WITH_TORCH[key] = info
    return info


def clear_cache() -> None:
    """Forget the cached hardware (for tests and long-lived workers whose devices change)."""
    with _LOCK:
        _BASE.clear()
        _WITH_TORCH.clear()
