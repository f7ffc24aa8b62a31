"""The edge's name for the publisher interface (``pipeline.publishing``), which sits below the
edge and the runtimes that implement it."""

from __future__ import annotations

from pipeline.publishing import Publisher, PublishUnavailableError

__all__ = ["PublishUnavailableError", "Publisher"]
