"""Matching records across the two apps (rule M1–M7).

This package holds only re-exports; the implementation lives in underscore modules.
"""

from __future__ import annotations

from syncengine.matching._normalize import NORMALIZERS as NORMALIZERS
from syncengine.matching._normalize import is_valid_email as is_valid_email
from syncengine.matching._normalize import normalize_company_name as normalize_company_name
from syncengine.matching._normalize import normalize_domain as normalize_domain
from syncengine.matching._normalize import normalize_email as normalize_email
from syncengine.matching._normalize import normalize_exact as normalize_exact
from syncengine.matching._normalize import normalize_phone as normalize_phone
from syncengine.matching._normalize import normalize_text as normalize_text

__all__ = [
    "NORMALIZERS",
    "is_valid_email",
    "normalize_company_name",
    "normalize_domain",
    "normalize_email",
    "normalize_exact",
    "normalize_phone",
    "normalize_text",
]
