"""Re-export of ``trackhouse_sdk.client`` (see ``pipeline.sdk``)."""

from trackhouse_sdk.client import *  # noqa: F403
