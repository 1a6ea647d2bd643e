"""Links that come from published data (a notice's URL, a document's address).

Such a link is written into an ``href`` only when it is a plain web address: ``http`` or
``https``, with a host, and nothing a browser would read otherwise. ``javascript:``,
``data:``, ``vbscript:``, protocol-relative ``//host`` and schemes hidden behind control
characters or spaces (``java\\tscript:``, which browsers strip and then run) are shown as
text, never as links (OWASP XSS prevention, rule 5: validate untrusted URLs). The
Content-Security-Policy would stop the script; this stops the link being offered at all.

A pure function with no imports from the rest of locality; templates call it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

WEB_SCHEMES = frozenset({"http", "https"})
# Longer than any real notice address; a huge value is not a link worth rendering.
MAX_LINK = 2048


def web_link(value: object) -> str | None:
    """``value`` as an http(s) address safe to put in an ``href``, or None when it is not one.

    >>> web_link(" https://www.find-tender.service.gov.uk/Notice/000123-2025 ")
    'https://www.find-tender.service.gov.uk/Notice/000123-2025'
    >>> web_link("javascript:alert(1)") is None, web_link("//evil.example/") is None
    (True, True)
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_LINK:
        return None
    # Control characters and spaces inside a URL are how schemes are disguised.
    if any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    return url
