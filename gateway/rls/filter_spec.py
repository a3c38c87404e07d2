"""The `{column, op, value}` filter shared by typed RLS rules, chart query specs and user filters.

Only its shape is checked here (operator known, value fitting the operator); the column is checked
against a dataset, and the value bound as a SQL literal, by `gateway.rls.clause.compile_typed_rule`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

FilterOperator = Literal[
    "==", "!=", ">", ">=", "<", "<=", "IN", "NOT IN", "LIKE", "IS NULL", "IS NOT NULL", "BETWEEN"
]  # fmt: skip
Scalar = str | int | float | bool | None
MAX_LIST_VALUES = 1000


class FilterSpec(BaseModel):
    # Unknown fields are refused, so a typo never silently falls back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    op: FilterOperator
    value: Scalar | list[Scalar] = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Self:
        if self.op in ("IS NULL", "IS NOT NULL"):
            if self.value is not None:
                raise ValueError(f"{self.op} takes no value")
        elif self.op in ("IN", "NOT IN"):
            if not isinstance(self.value, list) or not 1 <= len(self.value) <= MAX_LIST_VALUES:
                raise ValueError(f"{self.op} needs a list of 1 to {MAX_LIST_VALUES} values")
        elif self.op == "BETWEEN":
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise ValueError("BETWEEN needs a list of two values")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"{self.op} needs one value")
        elif self.op == "LIKE" and not isinstance(self.value, str):
            raise ValueError("LIKE needs a string pattern")
        return self
