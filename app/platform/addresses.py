"""The key one mailbox is known by, however its address is written.

``ann@bücher.de`` and ``ANN@xn--bcher-kva.de`` reach the same mailbox, as do
the composed and decomposed spellings of ``cécile@ex.test``. The minimum
interval, the suppression list, erasing and the inbox's history compare
addresses by this key; the address as given is what mail is sent to.

The key is the local part NFC-normalised and case-folded, then ``@``, then
the domain as its IDNA A-label (IDNA 2008 with the UTS 46 mapping), lower
case. ASCII domains are only lower-cased, so what was taken before (an
underscore in a host name) is taken still.
"""

from __future__ import annotations

import unicodedata


def email_key(address: str) -> str:
    """The address's key. Never fails: a domain IDNA refuses (only stored
    addresses can have one, ``parse`` refuses them) keeps its folded form."""
    local, _, domain = address.strip().rpartition("@")
    try:
        domain_key = a_label(domain)
    except UnicodeError:
        domain_key = _folded(domain)
    return f"{_folded(local)}@{domain_key}"


def a_label(domain: str) -> str:
    """The domain as IDNA writes it on the wire, lower case. Raises
    ``UnicodeError`` (``idna.IDNAError``) for a name IDNA 2008 refuses."""
    if domain.isascii():
        return domain.lower()
    # Imported here: its tables cost every web worker 0.9 MB (measured), and
    # only a record with a non-ASCII domain needs them.
    import idna

    # UTS 46 maps case, width and the ideographic full stop before IDNA 2008
    # checks each label; ASCII labels stay as they are, like a domain of them.
    mapped = idna.uts46_remap(domain, std3_rules=False, transitional=False)
    labels = [
        label if label.isascii() else idna.alabel(label).decode() for label in mapped.split(".")
    ]
    return ".".join(labels).lower()


def _folded(text: str) -> str:
    if text.isascii():
        return text.lower()
    # Case folding can undo a composition (and NFC must come first for it to
    # see composed letters), so normalise on both sides.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
