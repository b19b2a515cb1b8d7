"""gameday: rehearse rollbacks of release-directory deploys against a Docker replica."""

from harness.errors import (
    BaseImageError,
    DeployToolError,
    DockerUnavailable,
    HarnessError,
    InputError,
    StagingError,
)

__version__ = "0.1.0"

__all__ = [
    "BaseImageError",
    "DeployToolError",
    "DockerUnavailable",
    "HarnessError",
    "InputError",
    "StagingError",
    "__version__",
]
