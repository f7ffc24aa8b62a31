"""Operator commands that drive a runtime's storage directly (spool, state store, ClickHouse):
replaying dead letters and forgetting a user. They sit above the runtimes; nothing below imports
them."""
