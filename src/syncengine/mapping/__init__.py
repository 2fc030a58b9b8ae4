"""Field mappings: converting values between property types (rule F1–F5).

This package holds only re-exports; the implementation lives in underscore modules.
"""

from __future__ import annotations

from syncengine.mapping._convert import ConversionError as ConversionError
from syncengine.mapping._convert import coerce as coerce
from syncengine.mapping._convert import convert as convert
from syncengine.mapping._convert import flows as flows
from syncengine.mapping._convert import same_value as same_value

__all__ = ["ConversionError", "coerce", "convert", "flows", "same_value"]
