"""The cached catalog's text is what ``json.dump`` writes, whichever encoder writes it."""

from __future__ import annotations

import io
import json

from layercfg.schema_builder.catalog_cache import write_atomically


def test_written_text_is_json_dump_text(tmp_path):
    data = {
        "classes": [{"id": "keras.layers.Dense", "default": 0.1, "big": 1e300, "tiny": 5e-324}],
        "names": {"activation": {"relu": "Rectified \u00e9 \u2603 \U0001f600", "": None}},
        "nested": [[True, False, None, -0.0, 3, 'a"b\\c\n\t\u0001']],
    }
    path = tmp_path / "sub" / "catalog.json"
    write_atomically(path, data)
    expected = io.StringIO()
    json.dump(data, expected, separators=(",", ":"))
    assert path.read_text(encoding="utf-8") == expected.getvalue()
    assert json.loads(path.read_text(encoding="utf-8")) == data
    assert [p.name for p in path.parent.iterdir()] == ["catalog.json"]  # no temporary left
