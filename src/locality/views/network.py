"""The network page's data for a scope (the dashboard's ``/network`` and ``/api/network``):
the scope read from the page's words, then ``locality.network`` builds, measures and lays it
out, once per store state.

A large network takes seconds to compute (the busiest council of a national store, 25,000
organisations, about two; everywhere, half a minute), so ``precompute.refresh`` stores
the page of every scope in ``stored_scopes``: everywhere, and each council and combined
authority of at least ``STORE_ABOVE`` ties (``network.build.council_ties``: its buyers'
award–supplier rows and the suppliers its payments are resolved to). Smaller scopes are
computed on request in under half a second (bench/network.py times both); a theme or a
date narrows a scope, and is computed on request too.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypedDict, Unpack

from locality.views.params import THEMES, BadRequest, NotFound
from locality.views.queries import Session

# Ties (``council_ties``) from which a scope's page is stored at refresh: bench/network.py
# at 1M releases computed a council of 4,955 ties in 0.40 s, its busiest (42,812) in 2.15 s.
STORE_ABOVE = 5_000


class ScopeWords(TypedDict, total=False):
    """The page's words for its scope: ``locality`` (one council) wins over ``place`` (a
    combined authority, a place or a council); ``theme`` a CPV theme; ``since`` a date."""

    place: str | None
    locality: str | None
    theme: str | None
    since: date | None


def network_scope(s: Session, **words: Unpack[ScopeWords]) -> Any:
    """The ``locality.network.Scope`` of the page's words: ``locality`` (one council) wins
    over ``place``; an unknown theme is a ``BadRequest``, an unknown place a ``NotFound``."""
    from locality.network import NetworkError, scope_for

    place, locality, theme = words.get("place"), words.get("locality"), words.get("theme")
    if theme and theme.casefold() not in {t.casefold() for t in THEMES}:
        raise BadRequest(f"no theme {theme!r}: use one of {', '.join(THEMES)}")
    try:
        return scope_for(
            place=None if locality else place or None,  # the council, the narrower, wins
            locality=locality or None,
            theme=theme or None,
            since=words.get("since"),
            places_file=s.store.places_file,
        )
    except NetworkError as exc:  # no such place or council
        raise NotFound(str(exc)) from exc


def network_page_key(scope: Any) -> tuple[Any, ...]:
    """The cache key (and stored key) of a scope's page: the scope, not the words naming it."""
    councils = scope.councils and tuple(sorted(scope.councils))
    return ("network-page", scope.label, councils, scope.theme, scope.since)


def network_data(s: Session, **words: Unpack[ScopeWords]) -> dict[str, Any]:
    """The page data of a scope (``locality.network.page.page_data``, with the themes a
    scope may name and the words asked for under ``query``)."""
    data = dict(scope_page(s, network_scope(s, **words)))
    # The words, after the cache: "WSM" and "Westminster" name one scope and share its page.
    since = words.get("since")
    data["query"] = {name: words.get(name) for name in ScopeWords.__annotations__}
    data["query"]["since"] = since.isoformat() if since else None
    return data


def scope_page(s: Session, scope: Any) -> dict[str, Any]:
    """A scope's page data, from the cache, the stored results or computed."""
    from locality.network import TRADE_KINDS, NetworkError, build_network, measure
    from locality.network.build import themes
    from locality.network.page import empty_page, page_data

    def compute(con: Any) -> dict[str, Any]:
        try:
            # The page reads the trade ties only (the measures, the picture and the lists):
            # the co-supplier and co-buyer projections, most of the edges, are for export.
            network = build_network(con, scope, kinds=TRADE_KINDS)
        except NetworkError as exc:
            raise BadRequest(str(exc)) from exc
        data = page_data(measure(network)) if network.graph.vcount() else empty_page(scope)
        data["themes"] = themes(con)
        return data

    return s.cached(network_page_key(scope), compute)


def stored_scopes(s: Session) -> list[Any]:
    """The scopes whose pages a refresh stores (module docstring): everywhere, then every
    council and combined authority of at least ``STORE_ABOVE`` ties, most first."""
    from locality.network import scope_for
    from locality.network.build import council_ties

    ties = council_ties(s.con)
    sized: list[tuple[int, Any]] = [
        (n, scope_for(locality=code)) for code, n in ties.items() if n >= STORE_ABOVE
    ]
    for place in s.store.places().values():
        if len(place.councils) > 1:
            n = sum(ties.get(code, 0) for code in place.councils)
            if n >= STORE_ABOVE:
                sized.append((n, scope_for(place=place.name, places_file=s.store.places_file)))
    sized.sort(key=lambda item: (-item[0], item[1].label))
    return [scope_for(), *(scope for _, scope in sized)]
