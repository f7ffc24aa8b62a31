"""Runtimes that drive the stages: embedded (one process, chDB, a spool) and Kafka/Faust workers."""
