"""Releases are kept packed (zstd with a dictionary trained on the store's own releases) and
come back exactly as published, however the files that brought them were cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from locality.ingest.packing import MIN_TRAIN_SAMPLES, NO_DICTIONARY, Packer, Unpacker, train
from locality.ingest.pipeline import ingest
from locality.store import sql
from locality.store.db import connect
from tests.conftest import SAMPLE_FILES
from tests.helpers import read_jsonl


def _releases(copies: int) -> list[dict[str, Any]]:
    """The sample's releases, ``copies`` times over under other OCIDs."""
    sample = [r for path in SAMPLE_FILES for r in read_jsonl(path)]
    return [
        {**release, "ocid": f"{release['ocid']}-copy{n}"} if n else release
        for n in range(copies)
        for release in sample
    ]


def test_pack_and_unpack_round_trip() -> None:
    texts = [orjson.dumps(r) for r in _releases(2)]
    dictionary = train(texts)
    assert dictionary is not None
    packer = Packer(1, dictionary)
    plain = Packer(NO_DICTIONARY, None)
    unpacker = Unpacker({1: dictionary})
    for text in texts[:200]:
        assert unpacker.unpack(packer.pack(text), 1) == text
        assert unpacker.unpack(plain.pack(text), NO_DICTIONARY) == text
    # The point of the dictionary: a release packs far smaller with it.
    with_dictionary = sum(len(packer.pack(t)) for t in texts[:200])
    assert with_dictionary < 0.7 * sum(len(plain.pack(t)) for t in texts[:200])


def test_too_few_releases_train_no_dictionary() -> None:
    assert train([orjson.dumps(r) for r in _releases(1)][: MIN_TRAIN_SAMPLES - 1]) is None


def test_pages_too_small_to_train_on_get_a_dictionary_once_the_store_has_enough(
    tmp_path: Path,
) -> None:
    # `locality fetch` loads pages of 100 releases: no page alone is enough to train on.
    releases = _releases(2)
    con = connect(tmp_path / "pages.duckdb")
    trained_after = None
    for start in range(0, len(releases), 100):
        page = tmp_path / f"page-{start:05d}.jsonl"
        page.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in releases[start : start + 100]))
        ingest(con, [page])
        if trained_after is None and sql.one(con, "SELECT count(*) FROM release_dictionaries")[0]:
            trained_after = start
    assert trained_after is not None and trained_after >= MIN_TRAIN_SAMPLES
    # The page after the store held enough releases was packed with the new dictionary.
    last = sql.one(con, "SELECT dict_id FROM releases ORDER BY seq DESC LIMIT 1")[0]
    assert last == 1
    dictionaries = dict(sql.rows(con, "SELECT dict_id, data FROM release_dictionaries"))
    unpacker = Unpacker({int(k): bytes(v) for k, v in dictionaries.items()})
    key = orjson.OPT_SORT_KEYS
    stored = {
        orjson.dumps(orjson.loads(unpacker.text(bytes(packed), dict_id, None)), option=key)
        for packed, dict_id in sql.rows(con, "SELECT packed, dict_id FROM releases")
    }
    con.close()
    assert stored == {orjson.dumps(r, option=key) for r in releases}
