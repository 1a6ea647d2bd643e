"""What the ingest and compile worker processes run: compiling (and normalising) batches of
processes.

Kept apart from the pipeline so a worker imports only the merge, the normaliser and zstd,
not DuckDB and Arrow: each worker is then about 70 MB smaller, which counts when the
process tree has to stay under a memory budget (issue 14: 1.5 GB for a national load).
"""

from __future__ import annotations

import orjson

from locality.ingest.gc_pause import paused_gc
from locality.ingest.merge import compile_releases, default_rules
from locality.ingest.normalise import Rows, normalise_process
from locality.ingest.packing import Unpacker

# A stored release as the compile step reads it (``locality.store.loader``): ocid, packed
# JSON and its dictionary id, or (rows loaded before releases were packed) the JSON text.
StoredRelease = tuple[str, bytes | None, int | None, str | None]

# Each process's decompressors, kept from one batch to the next.
_UNPACKER = Unpacker()


def compile_batch(batch: list[StoredRelease], dictionaries: dict[int, bytes]) -> Rows:
    """Compile and normalise a batch of processes given as stored releases, in order.

    A top-level function so worker processes can run it.
    """
    rules = default_rules()
    rows = Rows()
    loads = orjson.loads
    dumps = orjson.dumps
    for dict_id, dictionary in dictionaries.items():
        _UNPACKER.add(dict_id, dictionary)
    unpack = _UNPACKER.unpack
    index = 0
    with paused_gc():
        while index < len(batch):
            ocid = batch[index][0]
            end = index
            while end < len(batch) and batch[end][0] == ocid:
                end += 1
            releases = [
                loads(unpack(packed, dict_id) if packed is not None else text or "")
                for _, packed, dict_id, text in batch[index:end]
            ]
            compiled = compile_releases(releases, rules)
            normalise_process(ocid, releases, compiled, dumps(compiled).decode(), rules, rows)
            index = end
    return rows


def compile_to_lines(batch: list[tuple[str, str]]) -> tuple[bytes, int]:
    """Compile a batch of (ocid, release JSON), grouped by ocid; JSON Lines and a count.

    A top-level function so worker processes can run it (``locality compile``).
    """
    rules = default_rules()
    loads = orjson.loads
    dumps = orjson.dumps
    out: list[bytes] = []
    index = 0
    while index < len(batch):
        ocid = batch[index][0]
        end = index
        while end < len(batch) and batch[end][0] == ocid:
            end += 1
        out.append(dumps(compile_releases([loads(t) for _, t in batch[index:end]], rules)))
        index = end
    return b"\n".join(out) + b"\n" if out else b"", len(out)
