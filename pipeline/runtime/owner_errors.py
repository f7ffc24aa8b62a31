"""Errors of the edge's calls to the storage process (the HTTP API answers them 503)."""


class OwnerError(RuntimeError):
    """The storage owner failed a request, or is gone."""


class OwnerTimeoutError(OwnerError):
    """The storage owner did not answer in time (stalled or busy)."""
