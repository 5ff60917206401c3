"""The field rules of one ``PUT /leads`` item (a status update row), as a pandera schema."""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.leads import Rule

#: The rules table of ``PUT /leads`` (api/leads.txt), keyed by the field path without
#: the ``leads.*.`` prefix.
RULES: MappingProxyType[str, Rule] = MappingProxyType(
    {
        "leads": Rule(1, 100, unit="items"),
        "reference": Rule(1, 100),
    }
)
#: ``YYYY-MM-DDTHH:MM:SS±HH:MM``, the docs' spelling of an action date (what we send).
ACTION_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$"
#: Statuses whose update needs an action date. The docs say "required for some statuses" and
#: show the server's 422 for one ("The action date is required for status cancelled."); the
#: sandbox requires it for `cancelled` and `call_later` (a callback time). A server requiring
#: it for more says so the same way, and the row is reported `rejected` with that message.
NEEDS_ACTION_DATE = frozenset({"cancelled", "call_later"})

#: Check names -> (issue code, the field the issue is about).
CHECK_CODES = MappingProxyType(
    {
        "not_nullable": "required",
        "str_length": "too_long",
        "isin": "unknown_status",
        "str_matches": "invalid_date",
        "action_date_required": "required",
    }
)


class StatusUpdateSchema(pa.DataFrameModel):
    """One update row: ``leads.*``. Status is a key already (labels are resolved before)."""

    reference: Series[str] = pa.Field(
        str_length={"min_value": RULES["reference"].low, "max_value": RULES["reference"].high},
        nullable=False,
    )
    status: Series[str] = pa.Field(nullable=False)
    action_date: Series[str] = pa.Field(nullable=True, str_matches=ACTION_DATE_PATTERN)

    class Config:
        strict = False
        coerce = False

    @pa.dataframe_check(name="action_date_required")
    def action_date_where_required(cls, frame: pd.DataFrame) -> pd.Series[bool]:
        """The statuses in NEEDS_ACTION_DATE come with a date."""
        needed = frame["status"].isin(list(NEEDS_ACTION_DATE))
        return ~(needed & frame["action_date"].isna())


def status_update_schema(statuses: Iterable[str]) -> pa.DataFrameSchema:
    """StatusUpdateSchema with the account's status keys (``GET /lead-statuses``) allowed."""
    keys = sorted({s.lower() for s in statuses})
    schema: pa.DataFrameSchema = StatusUpdateSchema.to_schema()
    return schema.update_column("status", checks=[pa.Check.isin(keys)])
