"""Read council "spend over £500" CSV files, streaming, into canonical payment rows.

Councils publish these returns under the Local Government Transparency Code, each in its
own layout. The reader copes with what real files do:

* encodings: UTF-8 with or without a byte order mark, else Windows-1252 (never assumed
  UTF-8: the whole file is checked first); gzip by its magic bytes (``decode.py``);
* the header row is found among the first lines (preamble lines before it are skipped) by
  matching cells against the column map; a second header line (Salford's
  ``,,,Gross,VAT,Net,,,`` under ``Amount,,``) is merged into the first (``layout.py``);
* blank header cells become ``column N``, repeated names are kept as ``Name (2)``, rows
  longer than the header keep their extra values (ignored), shorter rows are padded;
* every layout is mapped onto the canonical fields of :data:`PAYMENT_FIELDS` through
  ``spend_columns.toml`` (package data of :mod:`locality.ingest`, extendable with a user
  file): header variants are compared ignoring case, spaces and punctuation, so misspelt
  headers are variants too (``columns.py``); layouts never seen before are read by what
  their columns hold (``infer.py``);
* amounts like ``£4,490.00``, ``-£95.00``, ``(1,234.50)`` and ``12.00-``; net of VAT from a
  net column, else gross less VAT, else gross (``amounts.py``);
* dates as ISO ``yyyy-mm-dd``, ``dd/mm/yyyy``, ``dd.mm.yyyy``, ``dd-mm-yy`` and ``1 Apr 2018``;
* "Total" lines (a cell reading "Total", or an amount with neither date nor supplier) are
  not payments: they are rejected with that reason, as are rows whose amount or date cannot
  be read. Wholly blank lines are not records at all (``reader.py``).

The publishing body comes from ``--body`` (``body=``), else from the file's body column
(a name, or a URI/code such as ``…/local-authority-district/00CY``), else from the file or
folder name (``leeds-city-council/2018-09.csv``); it is mapped to a council's registry code
through :mod:`locality.reference` where possible (``bodies.py``). ``files.py`` reads whole
files for the ingest (``parse_spend_files``) and for ``locality ingest --explain``.

This package re-exports the reader's public names; the code imports them from the module
that holds each.
"""

from __future__ import annotations

from locality.domain.text import header_key
from locality.ingest.spendfile.amounts import parse_amount, parse_date
from locality.ingest.spendfile.bodies import Body, body_from_path, resolve_body
from locality.ingest.spendfile.columns import (
    MAPPED_FIELDS,
    PAYMENT_FIELDS,
    SpendColumns,
    load_columns,
)
from locality.ingest.spendfile.decode import detect_encoding
from locality.ingest.spendfile.errors import (
    AmbiguousColumnsError,
    NoBodyError,
    NotSpendError,
    SpendColumnsError,
    SpendFileError,
)
from locality.ingest.spendfile.files import (
    SPEND_SUFFIXES,
    ParsedFile,
    describe_columns,
    explain_spend_file,
    looks_like_spend,
    parse_spend_files,
    payments_of,
)
from locality.ingest.spendfile.infer import infer_columns
from locality.ingest.spendfile.layout import SpendLayout
from locality.ingest.spendfile.reader import SpendFile, SpendParser, SpendRecord, SpendStats

__all__ = [
    "MAPPED_FIELDS",
    "PAYMENT_FIELDS",
    "SPEND_SUFFIXES",
    "AmbiguousColumnsError",
    "Body",
    "NoBodyError",
    "NotSpendError",
    "ParsedFile",
    "SpendColumns",
    "SpendColumnsError",
    "SpendFile",
    "SpendFileError",
    "SpendLayout",
    "SpendParser",
    "SpendRecord",
    "SpendStats",
    "body_from_path",
    "describe_columns",
    "detect_encoding",
    "explain_spend_file",
    "header_key",
    "infer_columns",
    "load_columns",
    "looks_like_spend",
    "parse_amount",
    "parse_date",
    "parse_spend_files",
    "payments_of",
    "resolve_body",
]
