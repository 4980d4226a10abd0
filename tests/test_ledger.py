import hashlib
import json

import pytest

from harness.core.errors import DataError
from harness.ledger import chain


def test_each_line_holds_the_hash_of_the_previous_line(tmp_path) -> None:
    path = tmp_path / "ledger.jsonl"
    chain.append(path, {"run_id": "a"})
    chain.append(path, {"run_id": "b"})
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["prev_sha256"] == "0" * 64
    assert json.loads(lines[1])["prev_sha256"] == hashlib.sha256(lines[0].encode()).hexdigest()
    assert chain.verify(path) == 2


def test_editing_an_earlier_line_breaks_the_chain(tmp_path) -> None:
    path = tmp_path / "ledger.jsonl"
    for run in "abc":
        chain.append(path, {"run_id": run, "value": 1})
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"value":1', '"value":2')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 2"):
        chain.verify(path)


def test_missing_ledger_is_empty(tmp_path) -> None:
    assert chain.verify(tmp_path / "none.jsonl") == 0
