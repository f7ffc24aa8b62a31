from schemas.export import OUT_DIR, render


def test_committed_json_schemas_match_the_models():
    expected = render()
    committed = {p.name: p.read_text() for p in OUT_DIR.glob("*.schema.json")}
    assert committed == expected, "JSON Schemas are stale: run `make schemas` and commit them"
