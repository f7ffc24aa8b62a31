"""Kafka side of the distributed runtime: topic registry and the edge's producer."""
