"""What kind of agreement a contracting process sets up, with the evidence that decided it.

A framework agreement or a dynamic purchasing system (DPS, or a dynamic market under the
Procurement Act 2023) appoints suppliers who may later be given call-off contracts: its
value is a *ceiling* shared by many suppliers, not money awarded (Public Contracts
Regulations 2015 regs. 33-34; Procurement Act 2023 ss. 45-47 and 34-40). A call-off from a
framework or DPS is real money. Rules, strongest evidence first (``docs/metrics.md``,
"Agreement types"):

1. ``tender.techniques.hasFrameworkAgreement`` / ``hasDynamicPurchasingSystem`` (also on
   lots); a call-off named by ``procurementMethodDetails`` wins over them, because the
   techniques of a call-off notice describe the agreement it calls off;
2. ``tender.procurementMethodDetails``: "Call off from a Framework Agreement", "Award under
   framework", "further competition" → call-off; "framework" → framework; "dynamic
   purchasing" → DPS;
3. the notice form: UK13-UK16 (dynamic market notices) → DPS;
4. the title (call-off wording, then DPS / dynamic market / approved list / accreditation,
   then framework), then the description (a framework being set up or joined; then a
   contract bought through a framework or DPS; then a framework named; then DPS wording;
   then call-off wording that says what it calls off from);
5. shape: one award naming many suppliers with one value is an appointment to a list.

Otherwise a process is a contract.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

CONTRACT = "contract"
FRAMEWORK = "framework"
DPS = "dynamic_purchasing_system"
CALL_OFF = "call_off"
AGREEMENT_TYPES = (CONTRACT, FRAMEWORK, DPS, CALL_OFF)
# Agreements whose value is a ceiling, not money awarded.
CEILING_TYPES = frozenset({FRAMEWORK, DPS})

DYNAMIC_MARKET_FORMS = frozenset({"UK13", "UK14", "UK15", "UK16"})

# An award naming this many suppliers with one value is an appointment to a framework or
# list: a contract shared by five or more firms at one price does not occur in the sample.
SHAPE_MIN_SUPPLIERS = 5

_CALL_OFF = re.compile(
    r"call[- ]?off(?! contracts? (?:will|may|can|to be))|call of under"
    r"|award under (?:a |the )?framework|further competition|mini[- ]?competition"
    r"|direct award (?:from|under|via) (?:a |the )?framework",
    re.I,
)
# A framework's own description often says how it will be called off ("members may
# call-off from the framework"), so in a description the framework's establishment is read
# first, and call-off wording must say what it calls off from.
_CALL_OFF_DESCRIPTION = re.compile(
    r"call[- ]?off (?:from|under|against|via)|call of under"
    r"|(?:further|mini[- ]?)competition (?:under|via|through|from|against)",
    re.I,
)
# A call-off says which agreement it was bought through ("tendered under the TfGM ... Dynamic
# Purchasing System", "procured through L&Q framework", "using Lot 1 of CCS framework").
_CALL_OFF_THROUGH = re.compile(
    r"(?:tendered|awarded|procured|conducted|called[- ]off|purchased|bought)"
    r"\s+(?:under|through|via|using|from|on)\b[^.]{0,60}?"
    r"(?:framework|dynamic purchasing system|\bdps\b)"
    # "using" alone names a method of work as often as an agreement ("using the IAP
    # framework provided by the Scheme Administrator"): it must name the agreement.
    r"|\busing\b[^.]{0,60}?(?:framework agreement|dynamic purchasing system|\bdps\b)",
    re.I,
)
_FRAMEWORK_MENTION = re.compile(r"framework agreement|framework contract", re.I)
_DPS = re.compile(
    r"dynamic purchasing|\bdps\b|dynamic market|approved (?:provider |supplier |contractor )?list"
    r"|\baccreditation\b|accredited (?:provider|supplier)s?",
    re.I,
)
_FRAMEWORK = re.compile(r"framework|pan[- ]government agreement", re.I)
_FRAMEWORK_DESCRIPTION = re.compile(
    r"pan[- ]government agreement"
    r"|appoint\w*\b[^.]{0,60}\bframework|admitted\b[^.]{0,30}\bframework"
    r"|(?:establish\w*|set up|creat\w*|let|procure|tender\w*|put in place)"
    r"\b(?!\s+(?:through|under|via|using|from|off)\b)[^.]{0,30}\bframework"
    r"|\ba (?:new )?framework (?:for|of|to|will)\b|\bthe framework (?:will|is|shall)\b",
    re.I,
)


def _true(mapping: Any, key: str) -> bool:
    return isinstance(mapping, Mapping) and mapping.get(key) is True


def _quote(text: str, match: re.Match[str]) -> str:
    return repr(text[match.start() : match.end()].lower())


def classify(
    *,
    techniques: Iterable[Mapping[str, Any]],
    method_details: str | None,
    notice_forms: Iterable[str],
    title: str | None,
    description: str | None,
    max_suppliers_on_one_award: int = 0,
) -> tuple[str, str]:
    """(agreement type, evidence) of a process."""
    details = method_details or ""
    call_off = _CALL_OFF.search(details)
    if call_off:
        return CALL_OFF, f"procurementMethodDetails: {_quote(details, call_off)}"
    techniques = list(techniques)
    if any(_true(t, "hasFrameworkAgreement") for t in techniques):
        return FRAMEWORK, "tender.techniques.hasFrameworkAgreement"
    if any(_true(t, "hasDynamicPurchasingSystem") for t in techniques):
        return DPS, "tender.techniques.hasDynamicPurchasingSystem"
    if found := _DPS.search(details):
        return DPS, f"procurementMethodDetails: {_quote(details, found)}"
    if found := _FRAMEWORK.search(details):
        return FRAMEWORK, f"procurementMethodDetails: {_quote(details, found)}"
    forms = sorted(set(notice_forms) & DYNAMIC_MARKET_FORMS)
    if forms:
        return DPS, f"notice form {forms[0]} (dynamic market)"
    for where, text, rules in (
        ("title", title or "", ((CALL_OFF, _CALL_OFF), (DPS, _DPS), (FRAMEWORK, _FRAMEWORK))),
        (
            "description",
            description or "",
            (
                (FRAMEWORK, _FRAMEWORK_DESCRIPTION),
                (CALL_OFF, _CALL_OFF_THROUGH),
                (FRAMEWORK, _FRAMEWORK_MENTION),
                (DPS, _DPS),
                (CALL_OFF, _CALL_OFF_DESCRIPTION),
            ),
        ),
    ):
        for kind, pattern in rules:
            if found := pattern.search(text):
                return kind, f"{where}: {_quote(text, found)}"
    if max_suppliers_on_one_award >= SHAPE_MIN_SUPPLIERS:
        return (
            FRAMEWORK,
            f"shape: {max_suppliers_on_one_award} suppliers on one award with one value",
        )
    return CONTRACT, "no framework, DPS or call-off evidence"
