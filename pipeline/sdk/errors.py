"""Re-export of ``trackhouse_sdk.errors`` (see ``pipeline.sdk``)."""

from trackhouse_sdk.errors import *  # noqa: F403
