"""Synthetic OCDS corpus for scale benchmarks, resampled from real Contracts Finder releases.

The output is for benchmarks only. Never use it for metrics or tests of correctness.

Each synthetic contracting process copies the release chain of one real OCID from
``data/sample/ocds/contracts-finder-releases.jsonl``. The template is picked uniformly
from the 186 real OCIDs, so the real mix of chain lengths is kept: about 90% of processes
have one release, and the rest have 2 or 3 (tender -> tenderAmendment, award ->
awardUpdate, ...). Per process:

* new OCID (``ocds-b5fd17-`` + random UUID), new notice UUIDs and release ids
  (``<notice uuid>-<sequence>``). Award ids and document URLs that embed the OCID or a
  notice UUID are rewritten to match;
* every date is moved by the same whole number of days, so the order inside the chain
  and the time-of-day and UTC-offset text stay as published;
* every ``amount`` is multiplied by one factor per process, so an awardUpdate still
  repeats its award's value (quirk 2 in the data README);
* the buyer comes from a pool of buyers made from the real buyer parties, and the
  suppliers from a pool made from the real supplier parties. Pool entries get new ids
  and a name suffix. Suppliers keep their real ``streetAddress`` (postcode inside free
  text) and ``details`` (scale/vcse, sometimes missing). ``parties[].id``,
  ``buyer.id`` and ``awards[].suppliers[].id`` stay consistent.

Releases of one process are written next to each other, so any prefix of the file that
ends at an OCID change holds whole processes. The file is written with orjson, one
release per line, streaming. A ``.meta.json`` sidecar records N, the seed and hashes of
the inputs. A corpus whose sidecar matches is reused.

Usage: ``python bench/synth.py [--releases N] [--seed S] [--out PATH] [--force]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SOURCE = REPO_DIR / "data" / "sample" / "ocds" / "contracts-finder-releases.jsonl"
CORPUS_DIR = BENCH_DIR / "corpus"

DEFAULT_RELEASES = 1_000_000
DEFAULT_SEED = 20261127
BUYER_POOL = 5_000
SUPPLIER_POOL = 50_000
OCID_PREFIX = "ocds-b5fd17-"
# Dates move by a whole number of days in this range (templates are 2022-05..2025-01).
SHIFT_DAYS = (-1600, 300)
FIRST_SEQUENCE = 1_000_000

# Plan node kinds (see _compile_plan).
_DICT, _LIST, _DATE, _TOKEN, _AMOUNT, _RELEASE_ID, _PARTIES, _BUYER, _SUPPLIERS = range(9)


def _is_date(value: str) -> bool:
    """Return whether ``value`` looks like an ISO 8601 date or date-time."""
    if len(value) < 10 or value[4] != "-" or value[7] != "-":
        return False
    if not (value[:4].isdigit() and value[5:7].isdigit() and value[8:10].isdigit()):
        return False
    return len(value) == 10 or value[10] == "T"


def _compile_plan(value: Any, tokens: tuple[str, ...], key: str | None = None) -> Any:
    """Return a plan of the changes a synthetic copy of ``value`` needs, or None for none.

    A plan is a tuple ``(kind, data)``. Only the parts of a template that change get a
    plan, so applying it copies just the spine down to the changed leaves and shares the
    rest of the template (orjson serialises shared objects fine).
    """
    if isinstance(value, dict):
        plans = {}
        for k, v in value.items():
            sub = _compile_plan(v, tokens, k)
            if sub is not None:
                plans[k] = sub
        return (_DICT, plans) if plans else None
    if isinstance(value, list):
        subs = [_compile_plan(v, tokens) for v in value]
        return (_LIST, subs) if any(s is not None for s in subs) else None
    if isinstance(value, str):
        if _is_date(value):
            return (_DATE, None)
        if any(token in value for token in tokens):
            return (_TOKEN, None)
        return None
    if key == "amount" and isinstance(value, int | float) and not isinstance(value, bool):
        return (_AMOUNT, None)
    return None


def _release_plan(release: dict[str, Any], tokens: tuple[str, ...]) -> tuple[int, Any]:
    plans: dict[str, Any] = {}
    for key, value in release.items():
        if key == "id":
            plans[key] = (_RELEASE_ID, None)
        elif key == "parties":
            plans[key] = (_PARTIES, None)
        elif key == "buyer":
            plans[key] = (_BUYER, None)
        elif key == "awards":
            award_plans = []
            for award in value:
                award_plan: dict[str, Any] = {}
                for akey, avalue in award.items():
                    if akey == "suppliers":
                        award_plan[akey] = (_SUPPLIERS, None)
                    else:
                        sub = _compile_plan(avalue, tokens, akey)
                        if sub is not None:
                            award_plan[akey] = sub
                award_plans.append((_DICT, award_plan))
            plans[key] = (_LIST, award_plans)
        else:
            sub = _compile_plan(value, tokens, key)
            if sub is not None:
                plans[key] = sub
    return (_DICT, plans)


@dataclass
class _Template:
    """One real OCID: its releases (in file order) and their plans."""

    ocid: str
    notices: tuple[str, ...]  # notice UUIDs, from the release ids
    releases: list[tuple[dict[str, Any], Any, str]]  # (release, plan, notice UUID)
    buyer_id: str
    supplier_ids: tuple[str, ...]


def _notice_of(release_id: str) -> str:
    return release_id.rsplit("-", 1)[0]


def load_templates(path: Path = SOURCE) -> list[_Template]:
    chains: dict[str, list[dict[str, Any]]] = {}
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                release = orjson.loads(line)
                chains.setdefault(release["ocid"], []).append(release)
    templates = []
    for ocid, releases in chains.items():
        notices = tuple(dict.fromkeys(_notice_of(r["id"]) for r in releases))
        tokens = (ocid, *notices)
        buyer_ids = {r["buyer"]["id"] for r in releases}
        if len(buyer_ids) != 1:
            raise ValueError(f"{ocid}: expected one buyer per chain, got {sorted(buyer_ids)}")
        supplier_ids = tuple(
            dict.fromkeys(
                p["id"] for r in releases for p in r.get("parties", ()) if "supplier" in p["roles"]
            )
        )
        templates.append(
            _Template(
                ocid=ocid,
                notices=notices,
                releases=[(r, _release_plan(r, tokens), _notice_of(r["id"])) for r in releases],
                buyer_id=buyer_ids.pop(),
                supplier_ids=supplier_ids,
            )
        )
    return templates


def _real_parties(templates: list[_Template], role: str) -> list[dict[str, Any]]:
    """Distinct real parties with ``role`` (first version seen of each id), in file order."""
    seen: dict[str, dict[str, Any]] = {}
    for template in templates:
        for release, _, _ in template.releases:
            for party in release.get("parties", ()):
                if role in party["roles"]:
                    seen.setdefault(party["id"], party)
    return list(seen.values())


def _buyer_pool(real: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """Buyers: the real buyers first, unchanged, then copies with new ids and a name suffix."""
    pool = []
    for k in range(size):
        base = real[k % len(real)]
        variant = k // len(real)
        if variant == 0:
            pool.append(base)
            continue
        party = dict(base)
        name = f"{base['name']} ({variant:02d})"
        identifier = dict(base.get("identifier", {}))
        identifier["legalName"] = name
        scheme = identifier.get("scheme")
        if scheme:
            identifier["id"] = f"{identifier['id']}-SYN{variant:02d}"
            party["id"] = f"{scheme}-{identifier['id']}"
        else:
            party["id"] = f"GB-CFS-{9_000_000 + k}"
        party["name"] = name
        party["identifier"] = identifier
        pool.append(party)
    return pool


def _supplier_pool(
    real: list[dict[str, Any]], size: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Suppliers with new unique ids, real addresses and details, and a name suffix.

    Real ``GB-COH`` suppliers become new 8-digit ``GB-COH`` numbers and real ``GB-CFS``
    suppliers new ``GB-CFS`` numbers, so the real mix of id schemes (52:83) is kept.
    """
    company_numbers = iter(rng.sample(range(100_000_000), size))
    cfs_numbers = iter(rng.sample(range(1_000_000, 10_000_000), size))
    pool = []
    for k in range(size):
        base = real[k % len(real)]
        name = f"{base['name']} (S{k:05d})"
        identifier: dict[str, Any] = {"legalName": name}
        if base["id"].startswith("GB-COH-"):
            number = f"{next(company_numbers):08d}"
            identifier.update(scheme="GB-COH", id=number)
            party_id = f"GB-COH-{number}"
        else:
            party_id = f"GB-CFS-{next(cfs_numbers)}"
        party = {"id": party_id, "name": name, "identifier": identifier}
        for key, value in base.items():
            if key not in party:
                party[key] = value
        pool.append(party)
    return pool


class _Process:
    """The substitutions for one synthetic contracting process."""

    __slots__ = (
        "buyer",
        "buyer_ref",
        "days",
        "factor",
        "parties",
        "release_id",
        "supplier_refs",
        "tokens",
    )

    def __init__(self) -> None:
        self.tokens: list[tuple[str, str]] = []
        self.days = 0
        self.factor = 1.0
        self.release_id = ""
        self.buyer: dict[str, Any] = {}
        self.buyer_ref: dict[str, Any] = {}
        self.parties: dict[str, dict[str, Any]] = {}
        self.supplier_refs: dict[str, dict[str, Any]] = {}


_ORDINAL_CACHE: dict[str, int] = {}


def _shift_date(value: str, days: int) -> str:
    head = value[:10]
    ordinal = _ORDINAL_CACHE.get(head)
    if ordinal is None:
        ordinal = _ORDINAL_CACHE[head] = date.fromisoformat(head).toordinal()
    return date.fromordinal(ordinal + days).isoformat() + value[10:]


def _apply(value: Any, plan: tuple[int, Any], proc: _Process) -> Any:
    kind, data = plan
    if kind == _DICT:
        new = value.copy()
        for key, sub in data.items():
            new[key] = _apply(value[key], sub, proc)
        return new
    if kind == _LIST:
        return [
            v if sub is None else _apply(v, sub, proc) for v, sub in zip(value, data, strict=True)
        ]
    if kind == _DATE:
        return _shift_date(value, proc.days)
    if kind == _TOKEN:
        for old, new in proc.tokens:
            value = value.replace(old, new)
        return value
    if kind == _AMOUNT:
        if isinstance(value, int):
            return round(value * proc.factor)
        return round(value * proc.factor, 2)
    if kind == _RELEASE_ID:
        return proc.release_id
    if kind == _PARTIES:
        return [proc.parties[p["id"]] for p in value]
    if kind == _BUYER:
        return proc.buyer_ref
    if kind == _SUPPLIERS:
        return [proc.supplier_refs[s["id"]] for s in value]
    raise AssertionError(kind)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def _skewed(rng: random.Random, size: int) -> int:
    """An index in [0, size) that favours low indexes (a few big buyers and suppliers)."""
    return int(size * rng.random() ** 2)


def generate(n: int, seed: int = DEFAULT_SEED, source: Path = SOURCE) -> Iterator[bytes]:
    """Yield ``n`` synthetic releases as JSON lines (bytes ending in a newline)."""
    rng = random.Random(seed)
    templates = load_templates(source)
    buyers = _buyer_pool(_real_parties(templates, "buyer"), BUYER_POOL)
    suppliers = _supplier_pool(_real_parties(templates, "supplier"), SUPPLIER_POOL, rng)
    supplier_refs = [{"id": s["id"], "name": s["name"]} for s in suppliers]
    buyer_refs = [{"id": b["id"], "name": b["name"]} for b in buyers]
    dumps: Callable[[Any], bytes] = orjson.dumps
    sequence = FIRST_SEQUENCE
    written = 0
    while written < n:
        template = templates[rng.randrange(len(templates))]
        proc = _Process()
        new_ocid = OCID_PREFIX + _uuid(rng)
        notices = {old: _uuid(rng) for old in template.notices}
        proc.tokens = [(template.ocid, new_ocid), *notices.items()]
        proc.days = rng.randint(*SHIFT_DAYS)
        proc.factor = min(max(rng.lognormvariate(0.0, 0.35), 0.25), 4.0)
        b = _skewed(rng, len(buyers))
        proc.buyer, proc.buyer_ref = buyers[b], buyer_refs[b]
        proc.parties = {template.buyer_id: buyers[b]}
        chosen: set[int] = set()
        for old_id in template.supplier_ids:
            s = _skewed(rng, len(suppliers))
            while s in chosen:
                s = _skewed(rng, len(suppliers))
            chosen.add(s)
            proc.parties[old_id] = suppliers[s]
            proc.supplier_refs[old_id] = supplier_refs[s]
        for release, plan, notice in template.releases:
            if written >= n:
                break
            proc.release_id = f"{notices[notice]}-{sequence}"
            sequence += 1
            yield dumps(_apply(release, plan, proc)) + b"\n"
            written += 1


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_path(n: int, seed: int = DEFAULT_SEED) -> Path:
    return CORPUS_DIR / f"synthetic-releases-n{n}-seed{seed}.jsonl"


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _expected_meta(n: int, seed: int) -> dict[str, Any]:
    return {
        "releases": n,
        "seed": seed,
        "source": str(SOURCE.relative_to(REPO_DIR)),
        "source_sha256": _file_sha256(SOURCE),
        "generator_sha256": _file_sha256(Path(__file__).resolve()),
        "buyer_pool": BUYER_POOL,
        "supplier_pool": SUPPLIER_POOL,
    }


def ensure_corpus(
    n: int = DEFAULT_RELEASES,
    seed: int = DEFAULT_SEED,
    *,
    force: bool = False,
    out: Path | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Path, dict[str, Any]]:
    """Return the corpus path and its metadata, generating it unless a matching one exists."""
    path = out or corpus_path(n, seed)
    meta_path = _meta_path(path)
    expected = _expected_meta(n, seed)
    if not force and path.exists() and meta_path.exists():
        meta = orjson.loads(meta_path.read_bytes())
        same = all(meta.get(k) == v for k, v in expected.items())
        if same and meta.get("bytes") == path.stat().st_size:
            log(f"reusing corpus {path} ({n:,} releases, seed {seed})")
            meta["reused"] = True
            return path, meta
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    log(f"generating {n:,} synthetic releases (seed {seed}) into {path} ...")
    start = time.perf_counter()
    processes = 0
    last_ocid = b""
    batch: list[bytes] = []
    with tmp.open("wb", buffering=1 << 20) as f:
        for line in generate(n, seed):
            # Lines start with {"ocid":"..." (key order is the template's).
            ocid = line[9 : line.index(b'"', 9)]
            if ocid != last_ocid:
                processes += 1
                last_ocid = ocid
            batch.append(line)
            if len(batch) >= 4096:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))
    os.replace(tmp, path)
    seconds = time.perf_counter() - start
    meta = {
        **expected,
        "processes": processes,
        "bytes": path.stat().st_size,
        "seconds": round(seconds, 3),
    }
    meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    log(
        f"generated {n:,} releases / {processes:,} processes, "
        f"{meta['bytes'] / 1e6:,.0f} MB in {seconds:.1f} s ({n / seconds:,.0f} rel/s)"
    )
    meta["reused"] = False
    return path, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=DEFAULT_RELEASES, help="number N")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, help="output path (default: bench/corpus/...)")
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = parser.parse_args(argv)
    if args.releases < 1:
        parser.error("--releases must be at least 1")
    path, _ = ensure_corpus(args.releases, args.seed, force=args.force, out=args.out)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
