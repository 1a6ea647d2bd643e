"""The base relations every measure reads, as engine-portable Ibis expressions.

``process_facts``: one row per contracting process with its buyer's place and its theme.
``award_facts``: one row per counted award and supplier (an award without suppliers gives
one row with a null supplier), with the value part reaching that supplier and both ends'
places. Built from the store's tables by name, so the same expressions run on DuckDB (the
store) and on Spark (the same tables loaded there): see ``metrics/engine.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

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
