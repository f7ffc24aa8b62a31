from click.testing import CliRunner

from pipeline.cli import main


def test_edge_needs_kafka_and_a_clickhouse_server(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKHOUSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TRACKHOUSE_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("TRACKHOUSE_CLICKHOUSE_URL", raising=False)
    runner = CliRunner()
    no_kafka = runner.invoke(main, ["edge"])
    assert no_kafka.exit_code != 0 and "TRACKHOUSE_KAFKA_BOOTSTRAP" in no_kafka.output
    no_server = runner.invoke(main, ["edge", "--bootstrap", "127.0.0.1:9"])
    assert no_server.exit_code != 0 and "TRACKHOUSE_CLICKHOUSE_URL" in no_server.output
    assert "trackhouse worker" in no_server.output
