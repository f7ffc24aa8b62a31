"""Key kinds: a read-only share token reads and is never a writer."""

from pipeline.registry.projects import KEY_PREFIXES, Principal, new_key


def test_a_share_token_reads_only():
    token = new_key("read")
    assert token.startswith(KEY_PREFIXES["read"]) and len(token) > 40
    share = Principal("p1", "read")
    assert share.can_read and share.read_only
    assert Principal("p1", "secret").can_read and not Principal("p1", "secret").read_only
    assert not Principal("p1", "write").can_read and not Principal("p1", "write").read_only
