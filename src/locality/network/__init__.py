"""The locality innovation network: organisations (buyers, companies, SMEs, VCSEs,
universities, arts and housing bodies) tied by contracts, framework appointments, joint
awards and council payments; its brokers, communities and gaps (docs/network.md).

Python API::

    from locality.store.db import connect
    from locality.network import build_network, scope_for, measure, brokers

    con = connect("locality.duckdb", read_only=True)
    net = build_network(con, scope_for(place="West Yorkshire", since="2020-01-01"))
    net.graph            # igraph.Graph (vertex "name" is the org_id)
    net.to_networkx()    # networkx.MultiGraph
    report = brokers(measure(net))
"""

from locality.network.analysis import (
    Broker,
    BrokerReport,
    Community,
    CommunityReport,
    Measured,
    brokers,
    communities,
    measure,
)
from locality.network.build import (
    EDGE_KINDS,
    TRADE_KINDS,
    Network,
    NetworkError,
    Scope,
    build_network,
    scope_for,
)
from locality.network.export import ExportError, export
from locality.network.gaps import GapReport, gaps

__all__ = [
    "EDGE_KINDS",
    "TRADE_KINDS",
    "Broker",
    "BrokerReport",
    "Community",
    "CommunityReport",
    "ExportError",
    "GapReport",
    "Measured",
    "Network",
    "NetworkError",
    "Scope",
    "brokers",
    "build_network",
    "communities",
    "export",
    "gaps",
    "measure",
    "scope_for",
]
