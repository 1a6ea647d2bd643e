"""The base relations every measure reads, as engine-portable Ibis expressions.

``process_facts``: one row per contracting process with its buyer's place and its theme.
``award_facts``: one row per counted award and supplier (an award without suppliers gives
one row with a null supplier), with the value part reaching that supplier and both ends'
places. ``payment_facts``: one row per council payment with what is known of its
supplier, its theme and whether its payee is another public body (the whole-place spend
measures, ``docs/metrics.md`` "Payment measures"). Built from the store's tables by name, so
the same expressions run on DuckDB (the store) and on Spark (the same tables loaded there):
see ``metrics/engine.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from locality.domain.places import body_key

# Procedures and words that mark innovation procurement (docs/metrics.md, "Innovation").
INNOVATION_PATTERN = (
    r"(?i)(innovation partnership|competitive dialogue|competitive procedure with negotiation"
    r"|pre-commercial|precommercial|\bsbri\b|small business research initiative)"
)
# Agreements whose value is a ceiling shared by many suppliers, not money awarded
# (locality.domain.agreements; docs/metrics.md, "Agreement types").
CEILING_AGREEMENTS = ("framework", "dynamic_purchasing_system")


@dataclass(frozen=True)
class Tables:
    """The store's tables on one engine."""

    processes: ir.Table
    awards: ir.Table
    award_suppliers: ir.Table
    process_parties: ir.Table
    organisations: ir.Table
    ref_local_authorities: ir.Table
    ref_cpv_themes: ir.Table
    duplicate_processes: ir.Table

    @classmethod
    def from_backend(cls, backend: ibis.BaseBackend) -> Tables:
        return cls(**{name: backend.table(name) for name in cls.__dataclass_fields__})


def _places(t: Tables, prefix: str) -> ir.Table:
    """Organisation → local authority, region and combined authority, columns prefixed."""
    o = t.organisations
    la = t.ref_local_authorities
    joined = o.left_join(la, o.la_registry_code == la.la_registry_code)
    return joined.select(
        **{
            f"{prefix}_id": joined.org_id,
            f"{prefix}_org_name": joined.name,
            f"{prefix}_la_code": joined.la_code,
            f"{prefix}_la_registry_code": joined.la_registry_code,
            f"{prefix}_locality": joined.la_name,
            f"{prefix}_region": joined.region_name,
            f"{prefix}_combined_authority": joined.combined_authority,
        }
    )


def _financial_year(date: ir.TimestampValue) -> ir.StringValue:
    """UK local government financial year (April to March), e.g. "2024-25"."""
    start = ibis.ifelse(date.month() >= 4, date.year(), date.year() - 1)
    return start.cast("string").concat("-", ((start + 1) % 100).cast("string").lpad(2, "0"))


def process_facts(t: Tables) -> ir.Table:
    # One notice published twice under two OCIDs is one: the copy is left out everywhere.
    p = t.processes.filter(~t.processes.ocid.isin(t.duplicate_processes.ocid))
    buyers = _places(t, "buyer")
    themes = t.ref_cpv_themes
    joined = p.left_join(buyers, p.buyer_org_id == buyers.buyer_id).left_join(
        themes, p.cpv_division == themes.cpv_division
    )
    text = (
        joined.procurement_method_details.fill_null("")
        .concat(" ", joined.title.fill_null(""))
        .concat(" ", joined.description.fill_null(""))
    )
    return joined.select(
        "ocid",
        "publisher_prefix",
        buyer_id=joined.buyer_org_id,
        buyer_name=joined.buyer_org_name.fill_null(joined.buyer_name),
        locality=joined.buyer_locality,
        la_code=joined.buyer_la_code,
        la_registry_code=joined.buyer_la_registry_code,
        region=joined.buyer_region,
        combined_authority=joined.buyer_combined_authority,
        cpv_division=joined.cpv_division,
        theme=joined.theme.fill_null("unclassified"),
        method=joined.procurement_method.fill_null("unknown"),
        method_known=joined.procurement_method.notnull(),
        method_details=joined.procurement_method_details,
        suitable_sme=joined.suitable_sme,
        suitable_vcse=joined.suitable_vcse,
        lot_count=joined.lot_count,
        tender_start=joined.tender_start,
        tender_end=joined.tender_end,
        first_date=joined.first_date,
        agreement_type=joined.agreement_type.fill_null("contract"),
        is_framework=joined.agreement_type.isin(CEILING_AGREEMENTS).fill_null(False),
        is_call_off=(joined.agreement_type == "call_off").fill_null(False),
        central_purchasing_body=joined.central_purchasing_body.fill_null(False),
        is_direct=joined.procurement_method == "direct",
        bidders=joined.bidders,
        final_stage_bidders=joined.final_stage_bidders,
        sme_final_stage_bidders=joined.sme_final_stage_bidders,
        vcse_final_stage_bidders=joined.vcse_final_stage_bidders,
        is_innovation=(joined.cpv_division == "73") | text.re_search(INNOVATION_PATTERN),
    )


def award_facts(t: Tables) -> ir.Table:
    a = t.awards
    counted = a.filter(a.status.isnull() | (a.status == "active"))
    processes = process_facts(t)
    s = t.award_suppliers
    pp = t.process_parties
    parties = pp.select(p_ocid=pp.ocid, p_org_id=pp.org_id, p_scale=pp.scale, p_vcse=pp.vcse)
    suppliers = _places(t, "supplier")
    o = t.organisations
    orgs = o.select(o_org_id=o.org_id, o_scale=o.scale, o_vcse=o.vcse)

    j = counted.inner_join(processes, "ocid")
    j = j.left_join(s, [j.ocid == s.ocid, j.award_id == s.award_id])
    j = j.select(
        *[c for c in j.columns if c not in {"ocid_right", "award_id_right", "currency_right"}]
    )
    j = j.left_join(parties, [j.ocid == parties.p_ocid, j.org_id == parties.p_org_id])
    j = j.left_join(orgs, j.org_id == orgs.o_org_id)
    j = j.left_join(suppliers, j.org_id == suppliers.supplier_id)

    counts_as = j.counts_as.fill_null(ibis.ifelse(j.value.isnull(), "unknown", "awarded"))
    scale = ibis.ifelse(j.p_scale.isnull() | (j.p_scale == "unknown"), j.o_scale, j.p_scale)
    scale = scale.fill_null("unknown")
    vcse = j.p_vcse.fill_null(j.o_vcse)
    both_la = j.la_code.notnull() & j.supplier_la_code.notnull()
    both_region = j.region.notnull() & j.supplier_region.notnull()
    award_date = j.award_date.fill_null(j.first_date)
    return j.select(
        "ocid",
        "award_id",
        "publisher_prefix",
        "buyer_id",
        "buyer_name",
        "locality",
        "la_code",
        "la_registry_code",
        "region",
        "combined_authority",
        "cpv_division",
        "theme",
        "method",
        "method_known",
        "method_details",
        "suitable_sme",
        "suitable_vcse",
        "agreement_type",
        "is_framework",
        "is_call_off",
        "central_purchasing_body",
        "is_direct",
        "bidders",
        "final_stage_bidders",
        "sme_final_stage_bidders",
        "vcse_final_stage_bidders",
        "is_innovation",
        "lot_count",
        "supplier_id",
        "supplier_name",
        "supplier_locality",
        "supplier_region",
        "supplier_combined_authority",
        award_key=j.ocid.concat("|", j.award_id),
        # Money awarded: a framework's or DPS's value is a ceiling, kept apart.
        award_value=ibis.ifelse(counts_as == "awarded", j.value, None),
        ceiling_value=ibis.ifelse(counts_as == "ceiling", j.value, None),
        counts_as=counts_as,
        value_issue=j.value_issue,
        currency=j.currency,
        award_date=award_date,
        year=award_date.year(),
        financial_year=_financial_year(award_date),
        # The value reaching this supplier: its share, or the whole award when no supplier.
        part=ibis.ifelse(
            counts_as == "awarded",
            j.value_share.fill_null(ibis.ifelse(j.supplier_id.isnull(), j.value, None)),
            None,
        ),
        scale=scale,
        vcse=vcse,
        award_date_known=j.award_date.notnull(),
        named_supplier=j.supplier_id.notnull(),
        buyer_place_known=j.la_code.notnull(),
        cpv_known=j.cpv_division.notnull(),
        location_known=both_la,
        combined_authority_location_known=both_la & j.combined_authority.notnull(),
        same_locality=both_la & (j.la_code == j.supplier_la_code),
        same_combined_authority=both_la
        & j.combined_authority.notnull()
        & (j.combined_authority == j.supplier_combined_authority),
        same_region=both_region & (j.region == j.supplier_region),
    )


# --- council spend -------------------------------------------------------------------------

# The small tables the caller gives ``payment_facts`` (rules applied in Python by
# ``locality.spend``: themes, transfer payees; a places file's named bodies), as Ibis schemas.
THEME_LABELS_SCHEMA = ibis.schema(
    {
        "service_area": "string",
        "expense_type": "string",
        "theme": "string",
        "decided_by": "string",
        "rule": "string",
    }
)
TRANSFER_PAYEES_SCHEMA = ibis.schema(
    {
        "name": "string",
        "kind": "string",
        "rule": "string",
        "council_code": "string",
        "within_place": "boolean",
    }
)
BODY_NAMES_SCHEMA = ibis.schema({"key": "string", "name": "string"})


@dataclass(frozen=True)
class SpendTables:
    """The council spend relations on one engine, read by name.

    ``spend_payments`` is the store's table (or any relation with its columns, such as one
    place's payments). ``spend_suppliers`` has one row per spend supplier key with what is
    known of it: ``locality.enrich.resolve.SUPPLIERS_SQL``, the enrichment stage's result,
    a temporary view on DuckDB (``registry.duckdb_spend_tables``) and a table exported with
    the others for Spark (``engine.export_parquet``).
    """

    spend_payments: ir.Table
    spend_suppliers: ir.Table

    @classmethod
    def from_backend(cls, backend: ibis.BaseBackend) -> SpendTables:
        return cls(**{name: backend.table(name) for name in cls.__dataclass_fields__})


def _fy_start(date: ir.DateValue) -> ir.IntegerValue:
    """The year a date's UK financial year (April to March) starts in."""
    start: ir.IntegerValue = ibis.ifelse(date.month() >= 4, date.year(), date.year() - 1)
    return start


def payments_in_place(
    payments: ir.Table, councils: Sequence[str], bodies: Sequence[str]
) -> ir.Table:
    """A place's payments: its councils' by registry code, other bodies by name (``bodies``
    keyed by ``domain.places.body_key``, as ``place_body_keys`` gives them), each payment
    once; ``domain.places.spend_body_in_place`` is the same rule for one publisher."""
    in_place = payments.body_la_registry_code.isin(list(councils)) | body_key(payments.body).isin(
        list(bodies)
    )
    return payments.filter(in_place)


def _empty(schema: Mapping[str, Any]) -> ir.Table:
    """A table of ``schema`` with no rows: what an optional lookup table stands for when the
    caller has none, so the query keeps one shape."""
    return ibis.memtable({c: [] for c in schema}, schema=schema)


def _left_join_identical(
    left: ir.Table, right: ir.Table, keys: Mapping[str, str], columns: Mapping[str, str]
) -> ir.Table:
    """``left`` with ``right``'s ``columns`` (name in the result: name in ``right``) joined on
    ``keys`` (left's column: right's), matched null-safe: a missing value matches a missing
    value (IS NOT DISTINCT FROM), so a payment with no company number matches the spend
    supplier whose key has none."""
    picked = right.select(
        **{f"_k{i}": right[name] for i, name in enumerate(keys.values())},
        **{new: right[name] for new, name in columns.items()},
    )
    on = [left[name].identical_to(picked[f"_k{i}"]) for i, name in enumerate(keys)]
    return left.left_join(picked, on).drop(*(f"_k{i}" for i in range(len(keys))))


def with_bodies(payments: ir.Table, body_names: ir.Table | None = None) -> ir.Table:
    """Payments with the body that paid: ``body_name`` (a places file's name for a body
    without a council code, else the name its files give) and ``body_key`` (its council code,
    else that name), so a named body is one body however its files spell it."""
    if body_names is None:
        body_names = _empty(BODY_NAMES_SCHEMA)
    n = body_names.select(n_key=body_names.key, n_name=body_names.name)
    p = payments.left_join(
        n, payments.body_la_registry_code.isnull() & (n.n_key == body_key(payments.body))
    )
    return p.mutate(
        body_name=p.n_name.coalesce(p.body),
        body_key=p.body_la_registry_code.coalesce(p.n_name, p.body),
    ).drop("n_key", "n_name")


def payment_facts(
    t: SpendTables,
    *,
    themes: ir.Table | None = None,
    transfers: ir.Table | None = None,
    body_names: ir.Table | None = None,
    include_transfers: bool = False,
    local_councils: Sequence[str] | ir.Column | None = None,
) -> ir.Table:
    """One row per payment, joined to what is known of its supplier, its theme and, when its
    payee is a public body, the kind of body.

    ``themes`` (``THEME_LABELS_SCHEMA``): the theme of each (service area, expense type),
    matched null-safe; ``theme`` is null for a pair it lacks. ``transfers``
    (``TRANSFER_PAYEES_SCHEMA``): the payees that are public bodies, by normalised name.
    ``body_names`` (``BODY_NAMES_SCHEMA``): a places file's names for bodies without a
    council code, so a body is one body however its files spell it. Transfers are left out
    of the supplier measures (``transfer_excluded``, ``counted``) unless
    ``include_transfers``: they are payments to other public bodies, not purchases.

    ``local``: the supplier is located in one of ``local_councils`` (a place's councils: their
    registry codes, or a column of a table holding them), else in the paying council itself;
    ``location_known`` says when that can be told.
    """
    j = _left_join_identical(
        t.spend_payments,
        t.spend_suppliers,
        {
            "supplier_name_normalised": "supplier_name_normalised",
            "company_number": "company_number",
            "charity_number": "charity_number",
        },
        {
            "org_id": "org_id",
            "method": "method",
            "scale": "scale",
            "known_vcse": "vcse",
            "supplier_la": "la_registry_code",
        },
    )
    j = with_bodies(j, body_names)
    j = _left_join_identical(
        j,
        _empty(THEME_LABELS_SCHEMA) if themes is None else themes,
        {"service_area": "service_area", "expense_type": "expense_type"},
        {"theme": "theme", "decided_by": "decided_by", "rule": "rule"},
    )
    if transfers is None:
        transfers = _empty(TRANSFER_PAYEES_SCHEMA)
    x = transfers.select(
        x_name=transfers.name,
        transfer_kind=transfers.kind,
        transfer_rule=transfers.rule,
        transfer_council=transfers.council_code,
        x_within_place=transfers.within_place,
    )
    # Redacted payees have no normalised name, so they are never transfers.
    j = j.left_join(x, j.supplier_name_normalised == x.x_name)

    named_supplier = ~j.redacted & j.supplier_name_normalised.notnull()
    supplier_key = ibis.ifelse(
        named_supplier,
        j.org_id.coalesce(
            ibis.literal("GB-COH-").concat(j.company_number),
            ibis.literal("name:").concat(j.supplier_name_normalised),
        ),
        ibis.null().cast("string"),
    )
    transfer_excluded = j.transfer_kind.notnull() & ibis.literal(not include_transfers)
    # VCSE when the file's own flag or what is known of the supplier says so (either may be
    # missing); not VCSE when one says no and none says yes; unknown otherwise.
    is_vcse = ibis.cases(
        (j.vcse_flag.fill_null(False) | j.known_vcse.fill_null(False), True),
        (j.vcse_flag.notnull() | j.known_vcse.notnull(), False),
        else_=ibis.null().cast("boolean"),
    )
    if local_councils is not None:
        councils = (
            local_councils if isinstance(local_councils, ir.Column) else sorted(local_councils)
        )
        local = j.supplier_la.isin(councils).fill_null(False)
        location_known = j.supplier_la.notnull()
    else:
        local = (j.supplier_la == j.body_la_registry_code).fill_null(False)
        location_known = j.supplier_la.notnull() & j.body_la_registry_code.notnull()
    fy_start = _fy_start(j.payment_date)
    return j.select(
        "source_file",
        body=j.body_name,
        code=j.body_la_registry_code,
        body_key=j.body_key,
        payment_date=j.payment_date,
        year=j.payment_date.year(),
        fy_start=fy_start,
        financial_year=_financial_year(j.payment_date),
        amount_net=j.amount_net,
        supplier_name=j.supplier_name,
        supplier_name_normalised=j.supplier_name_normalised,
        redacted=j.redacted,
        is_card=j.is_card,
        vcse_flag=j.vcse_flag,
        service_area=j.service_area,
        expense_type=j.expense_type,
        supplier_key=supplier_key,
        org_id=j.org_id,
        method=j.method,
        scale=j.scale,
        known_vcse=j.known_vcse,
        supplier_la=j.supplier_la,
        theme=j.theme,
        decided_by=j.decided_by,
        rule=j.rule,
        transfer_kind=j.transfer_kind,
        transfer_rule=j.transfer_rule,
        transfer_council=j.transfer_council,
        transfer_within_place=j.x_within_place.fill_null(False),
        transfer_excluded=transfer_excluded,
        # The amount the supplier measures are of: null for a transfer left out.
        counted=ibis.ifelse(transfer_excluded, ibis.null().cast("float64"), j.amount_net),
        is_vcse=is_vcse,
        local=local,
        location_known=location_known,
    )
