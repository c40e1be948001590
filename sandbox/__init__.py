"""Load untrusted participant images and run them under limits through the Docker SDK.

Plain Python on purpose: no Django and no settings, so workers, tests and benchmarks use
it directly. Limits come in as :class:`Limits`, results go out as :class:`RunResult`.
"""

from sandbox.client import docker_client
from sandbox.errors import EngineError, InvalidImage, SandboxError
from sandbox.images import LoadedImage, load_image, remove_image
from sandbox.limits import Limits, RunMounts
from sandbox.runner import Failure, RunResult, run

__all__ = [
    "EngineError",
    "Failure",
    "InvalidImage",
    "Limits",
    "LoadedImage",
    "RunMounts",
    "RunResult",
    "SandboxError",
    "docker_client",
    "load_image",
    "remove_image",
    "run",
]
