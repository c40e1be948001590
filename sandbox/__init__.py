"""Load untrusted participant images and run them under limits through the Docker SDK.

Plain Python on purpose: no Django and no settings, so workers, tests and benchmarks use
it directly. Limits come in as :class:`Limits`, results go out as :class:`RunResult`.
"""

from sandbox.client import docker_client
from sandbox.code import CodeArchive, CodeLimits, InvalidCode, NotAnArchive, extract_code
from sandbox.errors import EngineError, InvalidImage, SandboxError
from sandbox.gpus import GpuAllocator, GpusUnavailable, detect_gpu_ids, parse_gpu_ids
from sandbox.images import LoadedImage, load_image, remove_image
from sandbox.ledger import ImageKeeper, ImageTracker, sweep_images
from sandbox.limits import Limits, RunMounts
from sandbox.orphans import cleanup_orphans, remove_containers
from sandbox.runner import Failure, RunResult, create_options, run

__all__ = [
    "CodeArchive",
    "CodeLimits",
    "EngineError",
    "Failure",
    "GpuAllocator",
    "GpusUnavailable",
    "ImageKeeper",
    "ImageTracker",
    "InvalidCode",
    "InvalidImage",
    "Limits",
    "LoadedImage",
    "NotAnArchive",
    "RunMounts",
    "RunResult",
    "SandboxError",
    "cleanup_orphans",
    "create_options",
    "detect_gpu_ids",
    "docker_client",
    "extract_code",
    "load_image",
    "parse_gpu_ids",
    "remove_containers",
    "remove_image",
    "run",
    "sweep_images",
]
