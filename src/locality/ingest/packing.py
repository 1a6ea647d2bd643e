"""How a release's JSON is kept in the store: zstd, with a dictionary trained on the store's
first releases.

OCDS releases repeat the same keys, code lists and publisher boilerplate, so a zstd
dictionary trained on a couple of thousand of them packs a ~3 KB release into a few hundred
bytes, about three times smaller than zstd alone, and is faster to write: profiling the
ingest showed DuckDB spending longer compressing and writing the JSON text (and checking it
as the JSON type) than Python spent reading it. The text is written once, packed; only the
compile step (``locality.store.loader.touched_release_batches``) reads it back.

``releases.dict_id`` names the dictionary (a row of ``release_dictionaries``); 0 means plain
zstd (a store whose first file held too few releases to train on). Rows written before the
store was packed keep their JSON in ``releases.data`` (``packed`` is NULL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import zstandard

# Releases a dictionary is trained on, and the fewest worth training on: zstd's trainer
# needs many samples, and below a thousand the dictionary gains little.
TRAIN_SAMPLES = 2_000
MIN_TRAIN_SAMPLES = 1_000
DICTIONARY_BYTES = 110 * 1024  # zstd's default (its command line's --maxdict)
LEVEL = 3  # zstd's default: level 3 with a dictionary already packs a release 6:1

NO_DICTIONARY = 0


def train(samples: Sequence[bytes]) -> bytes | None:
    """A dictionary for these releases' JSON, or None when there are too few to train on."""
    if len(samples) < MIN_TRAIN_SAMPLES:
        return None
    try:
        return zstandard.train_dictionary(
            DICTIONARY_BYTES, list(samples[:TRAIN_SAMPLES])
        ).as_bytes()
    except zstandard.ZstdError:  # samples too alike or too small to train on
        return None


class Packer:
    """Compresses release JSON with one dictionary (``dict_id``), or none."""

    def __init__(self, dict_id: int, dictionary: bytes | None) -> None:
        self.dict_id = dict_id
        self.dictionary = dictionary
        if dictionary is None:
            self._compressor = zstandard.ZstdCompressor(level=LEVEL)
        else:
            data = zstandard.ZstdCompressionDict(dictionary)
            self._compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=data)
        self.pack = self._compressor.compress


class Unpacker:
    """Decompresses packed releases, whatever dictionary each was packed with."""

    def __init__(self, dictionaries: dict[int, bytes] | None = None) -> None:
        self._dictionaries = dict(dictionaries or {})
        self._decompressors: dict[int, Any] = {}

    def add(self, dict_id: int, dictionary: bytes) -> None:
        if dict_id not in self._dictionaries:
            self._dictionaries[dict_id] = dictionary

    def unpack(self, packed: bytes, dict_id: int | None) -> bytes:
        key = dict_id or NO_DICTIONARY
        decompressor = self._decompressors.get(key)
        if decompressor is None:
            if key == NO_DICTIONARY:
                decompressor = zstandard.ZstdDecompressor()
            else:
                data = zstandard.ZstdCompressionDict(self._dictionaries[key])
                decompressor = zstandard.ZstdDecompressor(dict_data=data)
            self._decompressors[key] = decompressor
        return bytes(decompressor.decompress(packed))

    def text(self, packed: bytes | None, dict_id: int | None, data: str | None) -> str:
        """A stored release's JSON text: unpacked, or as stored before packing."""
        if packed is None:
            if data is None:
                raise ValueError("a stored release has neither packed nor JSON data")
            return data
        return self.unpack(packed, dict_id).decode()
