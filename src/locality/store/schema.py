"""The store's tables, and the migrations that create them.

One DuckDB file holds everything. Tables carry no primary-key constraints: the loader keeps
rows unique by construction (it replaces every row of a process it recompiles), which keeps
bulk loads fast and avoids DuckDB's eager unique checks on delete-then-insert in one
transaction. ``tests/test_store.py`` checks the uniqueness invariants instead.

Each migration is a list of statements applied once, in order; ``meta.schema_version``
records how far a store has got, so an older store file is upgraded when opened.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    # 1: the foundation tables.
    [
        """
        CREATE TABLE releases (
            seq BIGINT NOT NULL,            -- global reading order: ties on date keep it
            ocid VARCHAR NOT NULL,
            release_id VARCHAR NOT NULL,    -- release id, or a content hash when it has none
            release_date VARCHAR,           -- as published (sorting key of the merge)
            tags VARCHAR[],
            content_hash VARCHAR NOT NULL,
            source_file VARCHAR NOT NULL,
            source_line BIGINT,
            source_pointer VARCHAR,
            data JSON NOT NULL              -- the release as published
        )
        """,
        """
        CREATE TABLE processes (
            ocid VARCHAR NOT NULL,
            publisher_prefix VARCHAR,
            layout VARCHAR,                 -- ocds | cf-legacy-award | cf-legacy-tender
            release_count INTEGER,
            first_date TIMESTAMPTZ,
            last_date TIMESTAMPTZ,
            buyer_org_id VARCHAR,
            buyer_name VARCHAR,
            title VARCHAR,
            title_clean VARCHAR,
            description VARCHAR,
            description_clean VARCHAR,
            cpv_code VARCHAR,
            cpv_division VARCHAR,
            cpv_description VARCHAR,
            procurement_method VARCHAR,
            procurement_method_details VARCHAR,
            main_procurement_category VARCHAR,
            tender_status VARCHAR,
            tender_start TIMESTAMPTZ,
            tender_end TIMESTAMPTZ,
            suitable_sme BOOLEAN,
            suitable_vcse BOOLEAN,
            tender_value DOUBLE,
            tender_currency VARCHAR,
            lot_count INTEGER,
            award_count INTEGER,
            notice_url VARCHAR,
            compiled_release JSON
        )
        """,
        """
        CREATE TABLE awards (
            ocid VARCHAR NOT NULL,
            award_id VARCHAR NOT NULL,
            award_date TIMESTAMPTZ,
            status VARCHAR,
            value DOUBLE,
            currency VARCHAR,
            supplier_count INTEGER,
            title VARCHAR
        )
        """,
        """
        CREATE TABLE award_suppliers (
            ocid VARCHAR NOT NULL,
            award_id VARCHAR NOT NULL,
            position INTEGER NOT NULL,
            org_id VARCHAR,
            supplier_name VARCHAR,
            value_share DOUBLE,             -- award value / number of the award's suppliers
            currency VARCHAR
        )
        """,
        """
        CREATE TABLE process_parties (
            ocid VARCHAR NOT NULL,
            org_id VARCHAR NOT NULL,
            party_id VARCHAR,
            name VARCHAR,
            roles VARCHAR[],
            scheme VARCHAR,
            identifier VARCHAR,
            identity_method VARCHAR,
            postcode VARCHAR,
            scale VARCHAR,                  -- sme | large | unknown, as this process saw it
            vcse BOOLEAN,
            observed_date TIMESTAMPTZ
        )
        """,
        """
        CREATE TABLE organisations (
            org_id VARCHAR NOT NULL,
            scheme VARCHAR,
            identifier VARCHAR,
            identity_method VARCHAR,
            name VARCHAR,
            postcode VARCHAR,
            outward_code VARCHAR,
            scale VARCHAR,
            vcse BOOLEAN,
            la_code VARCHAR,
            la_name VARCHAR,
            la_registry_code VARCHAR,
            region_code VARCHAR,
            region_name VARCHAR,
            country VARCHAR,
            buyer_processes INTEGER,
            supplier_processes INTEGER,
            supplier_awards INTEGER,
            first_seen TIMESTAMPTZ,
            last_seen TIMESTAMPTZ
        )
        """,
        """
        CREATE TABLE rejected (
            source_file VARCHAR NOT NULL,
            source_line BIGINT,
            source_pointer VARCHAR,
            ocid VARCHAR,
            reason VARCHAR NOT NULL,
            raw VARCHAR
        )
        """,
        """
        CREATE TABLE ingested_files (
            source_file VARCHAR NOT NULL,
            content_hash VARCHAR NOT NULL,
            size_bytes BIGINT,
            kind VARCHAR,
            records_read BIGINT,
            kept BIGINT,
            rejected BIGINT,
            new_releases BIGINT,
            updated_releases BIGINT,
            unchanged_releases BIGINT,
            ingested_at TIMESTAMPTZ
        )
        """,
        """
        CREATE TABLE ref_districts (
            outward_code VARCHAR NOT NULL,
            lad_code VARCHAR,
            lad_name VARCHAR,
            la_code VARCHAR,
            la_name VARCHAR,
            la_registry_code VARCHAR,
            region_code VARCHAR,
            region_name VARCHAR,
            country VARCHAR
        )
        """,
    ],
]

MIGRATIONS.append(
    # 2: whether a party's published address holds anything postcode-shaped, so status can
    # report postcode coverage over the addresses that have one.
    [
        "ALTER TABLE process_parties ADD COLUMN address_has_postcode BOOLEAN",
        "ALTER TABLE organisations ADD COLUMN address_has_postcode BOOLEAN",
    ]
)

MIGRATIONS.append(
    # 3: every published version of each award's value (for the value-growth red flag), and
    # reference tables the metrics join: councils with their combined authority, CPV themes.
    [
        """
        CREATE TABLE award_versions (
            ocid VARCHAR NOT NULL,
            award_id VARCHAR NOT NULL,
            release_id VARCHAR,
            release_date VARCHAR,           -- the release's date as published
            value DOUBLE,
            currency VARCHAR
        )
        """,
        """
        CREATE TABLE ref_local_authorities (
            la_registry_code VARCHAR NOT NULL,
            official_name VARCHAR,
            nice_name VARCHAR,
            gss_code VARCHAR,
            nation VARCHAR,
            region VARCHAR,
            la_type VARCHAR,
            combined_authority VARCHAR,     -- mySociety registry code, e.g. WYCA, GMCA
            is_current BOOLEAN
        )
        """,
        """
        CREATE TABLE ref_cpv_themes (
            cpv_division VARCHAR NOT NULL,
            theme VARCHAR NOT NULL
        )
        """,
    ]
)


# Tables rebuilt for every recompiled contracting process.
PROCESS_TABLES = (
    "processes",
    "awards",
    "award_suppliers",
    "process_parties",
    "award_versions",
    "process_notices",
    "process_lots",
)

# One row per payment line of a council spend file (also built alone by the spend reader
# for a private table of the same shape).
SPEND_PAYMENTS_DDL = """
CREATE TABLE spend_payments (
    source_file VARCHAR NOT NULL,
    source_line BIGINT NOT NULL,
    body VARCHAR,                   -- publishing body (council's official name if known)
    body_la_registry_code VARCHAR,  -- mySociety registry code, e.g. MAN, LDS
    payment_date DATE NOT NULL,
    amount_net DOUBLE NOT NULL,     -- GBP, net of VAT; credit notes are negative
    supplier_name VARCHAR,          -- as published (redacted names kept as published)
    supplier_name_normalised VARCHAR,  -- identity.normalise_name; NULL when redacted
    company_number VARCHAR,         -- Companies House number, 8 characters if numeric
    charity_number VARCHAR,
    vcse_flag BOOLEAN,              -- NULL where the file publishes no VCSE flag
    service_area VARCHAR,
    expense_type VARCHAR,
    transaction_id VARCHAR,
    redacted BOOLEAN NOT NULL,      -- the payee was withheld
    is_card BOOLEAN NOT NULL        -- a purchase-card transaction
)
"""

MIGRATIONS.append(
    # 4: council spend files ("spend over £500"): one row per payment line, and what each
    # loaded file held (its body, net total and the threshold its body publishes at).
    [
        SPEND_PAYMENTS_DDL,
        "ALTER TABLE ingested_files ADD COLUMN total_amount DOUBLE",
        "ALTER TABLE ingested_files ADD COLUMN body VARCHAR",
        "ALTER TABLE ingested_files ADD COLUMN body_la_registry_code VARCHAR",
        "ALTER TABLE ingested_files ADD COLUMN published_threshold DOUBLE",
        "ALTER TABLE ingested_files ADD COLUMN threshold_basis VARCHAR",
        "ALTER TABLE ingested_files ADD COLUMN min_amount DOUBLE",
        "ALTER TABLE ingested_files ADD COLUMN below_default_threshold BIGINT",
        "ALTER TABLE ingested_files ADD COLUMN first_payment_date DATE",
        "ALTER TABLE ingested_files ADD COLUMN last_payment_date DATE",
    ]
)

MIGRATIONS.append(
    # 5: spend suppliers resolved to organisations (locality.enrich.resolve), and the
    # supplier facts users add from a CSV (name or company number -> postcode, scale, VCSE).
    [
        """
        CREATE TABLE spend_supplier_matches (
            supplier_name_normalised VARCHAR,  -- spend_payments' key columns, as they are
            company_number VARCHAR,
            charity_number VARCHAR,
            org_id VARCHAR NOT NULL,        -- organisations.org_id
            method VARCHAR NOT NULL,        -- exact_number | name | fuzzy
            score DOUBLE,                   -- 100 for exact_number and name; rapidfuzz score
            matched_name VARCHAR,           -- the organisation's name as matched
            resolved_at TIMESTAMPTZ
        )
        """,
        """
        CREATE TABLE supplier_facts (
            company_number VARCHAR,         -- padded to 8 when numeric
            name_normalised VARCHAR,        -- identity.normalise_name (one of the two is set)
            postcode VARCHAR,
            scale VARCHAR,                  -- sme | large | NULL
            vcse BOOLEAN,
            la_code VARCHAR,
            la_name VARCHAR,
            la_registry_code VARCHAR,
            source_file VARCHAR NOT NULL,
            source_line BIGINT
        )
        """,
    ]
)

MIGRATIONS.append(
    # 6: spend suppliers and organisation registers (locality.enrich.classify): the evidence of
    # a match made through a register, what the registers say each supplier is, and what
    # fuzzy matching already scored (so re-resolution scores only new names or new
    # organisations).
    [
        "ALTER TABLE spend_supplier_matches ADD COLUMN evidence VARCHAR",
        """
        CREATE TABLE spend_supplier_registers (
            supplier_name_normalised VARCHAR,  -- spend_payments' key columns, as they are
            company_number VARCHAR,
            charity_number VARCHAR,
            kind VARCHAR NOT NULL,          -- charity | mutual | housing_non_profit | ...
            vcse BOOLEAN,                   -- NULL: the kind says nothing (an arts NPO)
            register VARCHAR NOT NULL,      -- deciding register, or published-charity-number
            identifier VARCHAR,             -- org-id of the deciding register row
            matched_by VARCHAR NOT NULL,    -- company_number | charity_number | organisation | name
            linked_company_number VARCHAR,  -- the body's company number, when the key has none
            resolved_at TIMESTAMPTZ
        )
        """,
        """
        CREATE TABLE spend_fuzzy_choices (
            position INTEGER NOT NULL,      -- order of the names fuzzy matching scored against
            name VARCHAR NOT NULL,          -- normalised organisation name
            company_number VARCHAR          -- its organisation's GB-COH number
        )
        """,
        """
        CREATE TABLE spend_fuzzy_unmatched (
            supplier_name_normalised VARCHAR NOT NULL,
            company_number VARCHAR,
            crowded BOOLEAN NOT NULL,       -- more candidates over the cutoff than were checked
            signature VARCHAR NOT NULL      -- cutoffs and rules it was scored with
        )
        """,
    ]
)

MIGRATIONS.append(
    # 7: values with their meaning, agreement types and Find a Tender notice by notice
    # (docs/metrics.md, "Values" and "Agreement types"). Stores written before this need
    # `locality ingest --force` to fill the new columns of processes already loaded.
    [
        # What kind of agreement a process sets up, with the evidence that decided it.
        "ALTER TABLE processes ADD COLUMN agreement_type VARCHAR",  # contract | framework |
        # dynamic_purchasing_system | call_off | other
        "ALTER TABLE processes ADD COLUMN agreement_evidence VARCHAR",
        "ALTER TABLE processes ADD COLUMN notice_form VARCHAR",  # latest notice: UK1..UK17 | ...
        "ALTER TABLE processes ADD COLUMN stage VARCHAR",  # pipeline | engagement | ... | award
        "ALTER TABLE processes ADD COLUMN buyer_type VARCHAR",  # UK_CA_TYPE / TED_CA_TYPE id
        "ALTER TABLE processes ADD COLUMN tender_value_gross DOUBLE",
        # Bid statistics summed over lots (bids.statistics); NULL where none are published.
        "ALTER TABLE processes ADD COLUMN bidders INTEGER",
        "ALTER TABLE processes ADD COLUMN final_stage_bidders INTEGER",
        "ALTER TABLE processes ADD COLUMN sme_final_stage_bidders INTEGER",
        "ALTER TABLE processes ADD COLUMN vcse_final_stage_bidders INTEGER",
        # The one value a measure may sum is awards.value (NULL when unknown); these say
        # where it came from and what was published.
        "ALTER TABLE awards ADD COLUMN value_net DOUBLE",  # as published (amount)
        "ALTER TABLE awards ADD COLUMN value_gross DOUBLE",  # as published (amountGross)
        # value_source: award | contract | gross-only | none
        "ALTER TABLE awards ADD COLUMN value_source VARCHAR",
        "ALTER TABLE awards ADD COLUMN value_field VARCHAR",  # e.g. contracts[].value.amount
        "ALTER TABLE awards ADD COLUMN value_issue VARCHAR",  # placeholder | negative | ...
        "ALTER TABLE awards ADD COLUMN counts_as VARCHAR",  # awarded | ceiling | unknown
        "ALTER TABLE awards ADD COLUMN agreement_type VARCHAR",
        "ALTER TABLE awards ADD COLUMN related_lots VARCHAR[]",
        "ALTER TABLE process_parties ADD COLUMN vcse_source VARCHAR",
        "ALTER TABLE process_parties ADD COLUMN buyer_type VARCHAR",
        "ALTER TABLE process_parties ADD COLUMN additional_ids VARCHAR[]",
        "ALTER TABLE organisations ADD COLUMN vcse_source VARCHAR",
        "ALTER TABLE organisations ADD COLUMN buyer_type VARCHAR",
        # One row per notice (release) of a process: its Procurement Act 2023 form.
        """
        CREATE TABLE process_notices (
            ocid VARCHAR NOT NULL,
            release_id VARCHAR,
            notice_id VARCHAR,              -- documents[].id of the notice, else release id
            form VARCHAR,                   -- UK1..UK17, or cf-notice | 2015-rules | release tag
            stage VARCHAR,                  -- pipeline | engagement | planned | tender | ...
            notice_date TIMESTAMPTZ,
            url VARCHAR,                    -- http(s) link to the notice, else NULL
            tags VARCHAR[]
        )
        """,
        # One row per lot: suitability and bid statistics, as published per lot.
        """
        CREATE TABLE process_lots (
            ocid VARCHAR NOT NULL,
            lot_id VARCHAR NOT NULL,
            title VARCHAR,
            suitable_sme BOOLEAN,
            suitable_vcse BOOLEAN,
            value DOUBLE,
            value_gross DOUBLE,
            currency VARCHAR,
            bidders INTEGER,                -- bids.statistics measure "bids"
            final_stage_bidders INTEGER,    -- "finalStageBids"
            sme_final_stage_bidders INTEGER,  -- "smeFinalStageBids"
            vcse_final_stage_bidders INTEGER  -- "vcseFinalStageBids"
        )
        """,
        # Organisations known under two keys (a GB-CFS party id and an identifier) folded
        # into one: every org_id column of the store holds canonical_org_id.
        """
        CREATE TABLE organisation_aliases (
            org_id VARCHAR NOT NULL,
            canonical_org_id VARCHAR NOT NULL,
            reason VARCHAR NOT NULL
        )
        """,
        # One notice published twice under two OCIDs: the copy is counted once.
        """
        CREATE TABLE duplicate_processes (
            ocid VARCHAR NOT NULL,          -- the copy, left out of every measure
            duplicate_of VARCHAR NOT NULL,  -- the OCID that is counted
            reason VARCHAR NOT NULL
        )
        """,
        # Central purchasing bodies (src/locality/reference/central-purchasing-bodies.csv).
        """
        CREATE TABLE ref_central_purchasing_bodies (
            name VARCHAR NOT NULL,
            name_normalised VARCHAR NOT NULL,
            identifiers VARCHAR[],
            kind VARCHAR,
            note VARCHAR
        )
        """,
    ]
)

MIGRATIONS.append(
    # 8: whether a process's buyer is a central purchasing body (its frameworks serve many
    # places, not the place where its office is).
    [
        "ALTER TABLE processes ADD COLUMN central_purchasing_body BOOLEAN",
        # Processes compiled before migrations 7-8 lack the new columns: the next OCDS
        # ingest recompiles every process (locality.store.loader.plan_releases).
        "INSERT INTO meta SELECT 'recompile_all', 'true' WHERE EXISTS (SELECT 1 FROM processes)",
    ]
)

MIGRATIONS.append(
    # 9: where each `locality fetch` stopped (locality/fetch/state.py), so a fetch with no
    # --since carries on from there after a crash or Ctrl+C.
    [
        """
        CREATE TABLE fetch_runs (
            run_id INTEGER NOT NULL,
            source VARCHAR NOT NULL,          -- find-a-tender | contracts-finder
            base_url VARCHAR NOT NULL,
            window_from TIMESTAMPTZ NOT NULL, -- the window asked for (updated/published)
            window_to TIMESTAMPTZ NOT NULL,
            stages VARCHAR,                   -- comma-separated; NULL: every stage
            page_size INTEGER NOT NULL,
            download_dir VARCHAR NOT NULL,    -- the window's folder of saved pages
            pages INTEGER NOT NULL,           -- pages saved and ingested
            releases INTEGER NOT NULL,
            rejected INTEGER NOT NULL,
            last_cursor VARCHAR,              -- cursor of the last page ingested
            next_url VARCHAR,                 -- the page to get next; NULL when complete
            last_date TIMESTAMPTZ,            -- latest release `date` seen
            started_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            completed_at TIMESTAMPTZ          -- NULL until the last page is in
        )
        """,
    ]
)

MIGRATIONS.append(
    # 10: organisation lists a user imports (`locality ingest --kind organisations FILE.csv`,
    # locality/ingest/organisations.py): what kind of body each is, the network's strongest
    # evidence of a node's sector (docs/network.md, "Sectors").
    [
        """
        CREATE TABLE organisation_facts (
            source_file VARCHAR NOT NULL,
            source_line BIGINT NOT NULL,
            name VARCHAR NOT NULL,          -- as listed
            name_normalised VARCHAR NOT NULL,  -- domain.names.normalise_name
            identifiers VARCHAR[],          -- org-ids (GB-COH numbers padded to 8)
            postcode VARCHAR,
            outward_code VARCHAR,           -- postcode district
            sector VARCHAR,                 -- a network sector, NULL: from scale/vcse
            scale VARCHAR,                  -- sme | large | NULL
            vcse BOOLEAN
        )
        """,
    ]
)

MIGRATIONS.append(
    # 11: what the dashboard shows, computed when the data changes (locality/views/
    # precompute.py, run by `locality ingest`, `locality fetch` and `locality refresh`), so
    # the first request after the server starts is as fast as the hundredth.
    [
        """
        CREATE TABLE dashboard_results (
            key VARCHAR NOT NULL,           -- the view layer's cache key, as JSON
            value VARCHAR NOT NULL          -- the result, as tagged JSON (precompute.encode)
        )
        """,
        """
        CREATE TABLE dashboard_flags (
            rank BIGINT NOT NULL,           -- position in the red-flag index (most severe 0)
            ocid VARCHAR NOT NULL,
            buyer_id VARCHAR,
            row VARCHAR NOT NULL            -- flags_table's row, as tagged JSON
        )
        """,
        """
        CREATE TABLE dashboard_state (
            data_version VARCHAR NOT NULL,  -- precompute.data_version of the data it was made of
            refreshed_at TIMESTAMPTZ NOT NULL,
            seconds DOUBLE,
            results BIGINT,                 -- rows of dashboard_results
            places BIGINT                   -- place pages among them
        )
        """,
    ]
)

MIGRATIONS.append(
    # 12: releases kept zstd-packed with a dictionary trained on the store's
    # first releases (locality/ingest/packing.py), written once; rows loaded before keep
    # their JSON in `data`. The compiled release as zstd-compressed text, not the JSON type:
    # DuckDB parses every JSON value it is given to check it, which cost as much as writing
    # it, and every reader parses it anyway.
    [
        "ALTER TABLE releases ALTER COLUMN data DROP NOT NULL",
        "ALTER TABLE releases ADD COLUMN packed BLOB",  # zstd (ingest/packing.py)
        "ALTER TABLE releases ADD COLUMN dict_id INTEGER",  # release_dictionaries; 0: none
        """
        CREATE TABLE release_dictionaries (
            dict_id INTEGER NOT NULL,
            trained_on INTEGER NOT NULL,    -- releases it was trained on
            data BLOB NOT NULL              -- a zstd dictionary
        )
        """,
        # zstd, column by column: the compiled releases (~3 KB of JSON each) were most of
        # the store, stored almost raw; zstd keeps them at a tenth, is faster to write than
        # DuckDB's default string compression and as fast to scan.
        "ALTER TABLE processes ADD COLUMN compiled_zstd VARCHAR USING COMPRESSION zstd",
        "UPDATE processes SET compiled_zstd = compiled_release",
        "ALTER TABLE processes DROP COLUMN compiled_release",
        "ALTER TABLE processes RENAME COLUMN compiled_zstd TO compiled_release",
    ]
)

SCHEMA_VERSION = len(MIGRATIONS)

# Columns of spend_payments, in table order.
SPEND_COLUMNS = (
    "source_file",
    "source_line",
    "body",
    "body_la_registry_code",
    "payment_date",
    "amount_net",
    "supplier_name",
    "supplier_name_normalised",
    "company_number",
    "charity_number",
    "vcse_flag",
    "service_area",
    "expense_type",
    "transaction_id",
    "redacted",
    "is_card",
)

# The columns of the tables a compiled process becomes, in the order ingest stages them
# (`ingest/normalise.py`) and read models select them (`store/lookup.py`): one list each.
PROCESS_COLUMNS = (
    "ocid",
    "publisher_prefix",
    "layout",
    "release_count",
    "first_date",
    "last_date",
    "buyer_org_id",
    "buyer_name",
    "title",
    "title_clean",
    "description",
    "description_clean",
    "cpv_code",
    "cpv_division",
    "cpv_description",
    "procurement_method",
    "procurement_method_details",
    "main_procurement_category",
    "tender_status",
    "tender_start",
    "tender_end",
    "suitable_sme",
    "suitable_vcse",
    "tender_value",
    "tender_currency",
    "lot_count",
    "award_count",
    "notice_url",
    "compiled_release",
    "agreement_type",
    "agreement_evidence",
    "notice_form",
    "stage",
    "buyer_type",
    "tender_value_gross",
    "bidders",
    "final_stage_bidders",
    "sme_final_stage_bidders",
    "vcse_final_stage_bidders",
    "central_purchasing_body",
)
AWARD_COLUMNS = (
    "ocid",
    "award_id",
    "award_date",
    "status",
    "value",
    "currency",
    "supplier_count",
    "title",
    "value_net",
    "value_gross",
    "value_source",
    "value_field",
    "value_issue",
    "counts_as",
    "agreement_type",
    "related_lots",
)
AWARD_SUPPLIER_COLUMNS = (
    "ocid",
    "award_id",
    "position",
    "org_id",
    "supplier_name",
    "value_share",
    "currency",
)
AWARD_VERSION_COLUMNS = ("ocid", "award_id", "release_id", "release_date", "value", "currency")
# What identifies an organisation and says what it is, on a process's party and on the
# organisation it is folded into (store/unify.py) alike.
IDENTITY_COLUMNS = ("scheme", "identifier", "identity_method", "postcode", "scale", "vcse")
PARTY_COLUMNS = (
    "ocid",
    "org_id",
    "party_id",
    "name",
    "roles",
    *IDENTITY_COLUMNS,
    "observed_date",
    "address_has_postcode",
    "vcse_source",
    "buyer_type",
    "additional_ids",
)
NOTICE_COLUMNS = ("ocid", "release_id", "notice_id", "form", "stage", "notice_date", "url", "tags")
LOT_COLUMNS = (
    "ocid",
    "lot_id",
    "title",
    "suitable_sme",
    "suitable_vcse",
    "value",
    "value_gross",
    "currency",
    "bidders",
    "final_stage_bidders",
    "sme_final_stage_bidders",
    "vcse_final_stage_bidders",
)

# Columns of organisation_facts, in table order.
ORGANISATION_FACT_COLUMNS = (
    "source_file",
    "source_line",
    "name",
    "name_normalised",
    "identifiers",
    "postcode",
    "outward_code",
    "sector",
    "scale",
    "vcse",
)
