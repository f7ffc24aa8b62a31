"""Re-export of ``trackhouse_sdk.analyticskit`` (see ``pipeline.sdk``)."""

from trackhouse_sdk.analyticskit import *  # noqa: F403
