"""Every private Faust/aiokafka member the pipeline uses (pipeline/kafka/internals.py) still
exists, with the same shape, on the installed versions. A failure here after an upgrade names
the member, why we use it and the upstream line it depended on: re-check that code first."""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap
from importlib import metadata
from typing import Any

import pytest

from pipeline.kafka import internals
from pipeline.kafka.internals import PRIVATE, Private

PINNED = {"aiokafka": "0.14.0", "faust-streaming": "0.15.3"}


def owner_of(entry: Private) -> Any:
    module_name, _, class_name = entry.owner.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name) if class_name else module


def assigned_in_init(cls: type, name: str) -> bool:
    """Whether some ``__init__`` of ``cls``'s classes assigns ``self.<name>``."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(init))
        except (OSError, TypeError):
            continue
        if f"self.{name} =" in source or f"self.{name}: " in source:
            return True
    return False


@pytest.mark.parametrize("entry", PRIVATE, ids=lambda e: f"{e.owner}.{e.name}")
def test_private_member_still_there(entry: Private) -> None:
    owner = owner_of(entry)
    hint = f"{entry.owner}.{entry.name} ({entry.why}; upstream: {entry.upstream})"
    if entry.kind == "attribute":
        assert assigned_in_init(owner, entry.name), f"no longer set in __init__: {hint}"
        return
    if entry.kind == "declared":
        declared = any(entry.name in vars(k).get("__annotations__", {}) for k in owner.__mro__)
        assert declared, f"no longer declared: {hint}"
        return
    if entry.kind == "module":
        importlib.import_module(f"{entry.owner}.{entry.name}")
        return
    assert hasattr(owner, entry.name), f"gone: {hint}"
    member = getattr(owner, entry.name)
    if entry.kind == "global":
        assert callable(member), f"not a function any more: {hint}"
        return
    assert callable(member), f"not a method any more: {hint}"
    params = tuple(inspect.signature(member).parameters)
    assert params == entry.params, f"signature changed to {params}: {hint}"
    is_coroutine = inspect.iscoroutinefunction(member)
    assert is_coroutine == (entry.kind == "coroutine"), f"sync/async changed: {hint}"


def test_every_use_is_listed() -> None:
    """The accessors' targets are all in ``PRIVATE`` (a new accessor needs an entry)."""
    listed = {entry.name for entry in PRIVATE}
    for name, function in vars(internals).items():
        if not inspect.isfunction(function) or function.__module__ != internals.__name__:
            continue
        source = inspect.getsource(function)
        used = set(re.findall(r"\._([a-z]\w*)", source)) | set(re.findall(r'"(_[a-z]\w*)"', source))
        used = {f"_{member}" if not member.startswith("_") else member for member in used}
        assert used <= listed, f"internals.{name} uses {used - listed}, not in PRIVATE"


@pytest.mark.parametrize("package", sorted(PINNED))
def test_pinned_versions(package: str) -> None:
    """The references above are to these versions: an upgrade re-checks them (and this pin)."""
    assert metadata.version(package) == PINNED[package]


def test_the_overrides_are_the_listed_ones() -> None:
    """Faust's private methods the consumer subclasses override are all in ``PRIVATE``."""
    from pipeline.runtime import faust_consumer

    listed = {entry.name for entry in PRIVATE}
    for cls in (faust_consumer.ShortFetchWaitConsumerThread, faust_consumer.AtLeastOnceConsumer):
        for name, member in cls.__dict__.items():
            if not inspect.isfunction(member):
                continue
            base_has = any(name in base.__dict__ for base in cls.__mro__[1:])
            if name.startswith("_") and not name.startswith("__") and base_has:
                assert name in listed, f"{cls.__name__}.{name} overrides a Faust private"
