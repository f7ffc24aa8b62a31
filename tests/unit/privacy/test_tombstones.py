"""Erasure tombstones: hashed subjects, and events dropped only if received before the erase."""

from __future__ import annotations

import hashlib

from pipeline.privacy.tombstones import Tombstones, subject, user_subjects


def test_subjects_are_hashes_of_state_keys_never_the_ids():
    subjects = user_subjects("prj_a", "alice", ["vis_1"])
    assert subjects == sorted(
        hashlib.sha256(key).hexdigest() for key in (b"prj_a\0user:alice", b"prj_a\0vis_1")
    )
    assert not any("alice" in s or "vis_1" in s for s in subjects)
    assert subject("prj_a", "vis_1") != subject("prj_b", "vis_1")


def test_events_received_before_the_erasure_of_their_visitor_or_user_are_dropped():
    tombstones = Tombstones()
    assert not tombstones.drops("prj_a", "vis_1", "alice", 1)  # nothing erased
    tombstones.add(user_subjects("prj_a", "alice", ["vis_1"]), erased_at=1000)
    assert tombstones.drops("prj_a", "vis_1", "", 999)  # the visitor, still anonymous
    assert tombstones.drops("prj_a", "vis_9", "alice", 1000)  # the user, from another device
    assert tombstones.drops("prj_a", "", "alice", 10)  # server-side
    assert not tombstones.drops("prj_a", "vis_1", "alice", 1001)  # after the erase: new data
    assert not tombstones.drops("prj_b", "vis_1", "alice", 10)  # another project
    assert not tombstones.drops("prj_a", "vis_2", "bob", 10)
