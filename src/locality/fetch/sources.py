"""The two UK OCDS APIs a store can be kept current from, and how each is asked for a window.

Both answer with a release package whose ``links.next`` (OCDS pagination extension) holds
the next page's URL, with an opaque ``cursor``; they differ in path, in the names of the
window's bounds and in the stages they know.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Source:
    name: str  # as on the command line and in the store: find-a-tender, contracts-finder
    title: str
    base_url: str
    path: str
    from_param: str
    to_param: str
    stages: tuple[str, ...]  # the stages the API filters on
    # The service's limit is 12 requests per 2 minutes per address (Find a Tender's
    # documentation); one request every 11 s keeps under it with a margin.
    pace_seconds: float = 11.0
    page_size: int = 100  # the most either API returns per page


FIND_A_TENDER = Source(
    name="find-a-tender",
    title="Find a Tender",
    base_url="https://www.find-tender.service.gov.uk",
    path="/api/1.0/ocdsReleasePackages",
    from_param="updatedFrom",
    to_param="updatedTo",
    stages=("planning", "tender", "award"),
)

CONTRACTS_FINDER = Source(
    name="contracts-finder",
    title="Contracts Finder",
    base_url="https://www.contractsfinder.service.gov.uk",
    path="/Published/Notices/OCDS/Search",
    from_param="publishedFrom",
    to_param="publishedTo",
    stages=("planning", "tender", "award", "implementation"),
)

SOURCES = {source.name: source for source in (FIND_A_TENDER, CONTRACTS_FINDER)}


def api_time(moment: datetime) -> str:
    """A bound as both APIs read it: UTC, to the second, without a zone
    (``2025-02-24T00:00:00``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_moment(text: str) -> datetime:
    """An ISO date or date-time given by a user; without a zone it is UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not an ISO date or date-time (e.g. 2025-02-24 or 2025-02-24T06:00:00Z)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_stages(source: Source, text: str | None) -> tuple[str, ...]:
    """``planning,tender`` → the stages, checked against what the source knows."""
    if text is None or not text.strip():
        return ()
    stages = tuple(dict.fromkeys(s.strip().lower() for s in text.split(",") if s.strip()))
    unknown = [s for s in stages if s not in source.stages]
    if unknown:
        raise ValueError(
            f"{source.title} has no stage {', '.join(map(repr, unknown))}: "
            f"use one or more of {','.join(source.stages)}"
        )
    return stages
