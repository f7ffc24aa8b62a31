"""Runtimes that drive the stages: embedded (one process, chDB) and, later, Kafka/Faust."""
