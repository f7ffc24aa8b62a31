"""The Python SDK lives in its own distribution, ``trackhouse-sdk`` (package ``trackhouse_sdk``,
source in sdk/python/): ``pipeline.sdk`` re-exports it for code written against the old path."""

from trackhouse_sdk import *  # noqa: F403
from trackhouse_sdk import __all__ as __all__
