"""Which SQL functions a filter clause or an embedded query may call.

Both lists are allow-lists (fail closed): a function sqlglot does not know (``exp.Anonymous``) is accepted
only when its name is listed for the dialect, and a known function only when its class is. Server
information (``version()``, ``current_user``, ``current_setting``), side effects (``set_config``,
``pg_sleep``), file and large-object access (``pg_read_file``, ``lo_import``), remote access (``dblink``)
and table-valued functions are on neither list, so they are refused.
"""

from __future__ import annotations

import inspect

from sqlglot import exp

# Families sqlglot groups by module whose members are pure value functions: aggregates, math, strings and
# dates. The few members that reach outside the row (files, secrets, AI services, crypto keys) are removed.
_PURE_FUNCTION_MODULES = (
    "sqlglot.expressions.aggregate",
    "sqlglot.expressions.math",
    "sqlglot.expressions.string",
    "sqlglot.expressions.temporal",
)
_IMPURE_MEMBERS: frozenset[type[exp.Func]] = frozenset(
    {
        exp.AIAgg,
        exp.AISummarizeAgg,
        exp.ToFile,
        exp.Secret,
        exp.Encrypt,
        exp.EncryptRaw,
        exp.Decrypt,
        exp.DecryptRaw,
        exp.GapFill,
        exp.GenerateDateArray,
        exp.GenerateTimestampArray,
    }
)
_GENERAL_FUNCTIONS: frozenset[type[exp.Func]] = frozenset(
    {
        exp.Exists,
        exp.Case,
        exp.Cast,
        exp.TryCast,
        exp.CastToStrType,
        exp.Coalesce,
        exp.Collate,
        exp.EqualNull,
        exp.Greatest,
        exp.Least,
        exp.If,
        exp.Nullif,
        exp.Nvl2,
        exp.WidthBucket,
        exp.And,
        exp.Or,
        exp.Xor,
        exp.Pow,
        exp.ApproxDistinct,
        exp.RegexpLike,
        exp.Array,
        exp.ArrayContains,
        exp.ArrayContainsAll,
        exp.ArrayOverlaps,
        exp.ArraySize,
        exp.ArrayToString,
        exp.JSONExtract,
        exp.JSONExtractScalar,
        exp.JSONBExtract,
        exp.JSONBExtractScalar,
        exp.JSONBContains,
        exp.ParseJSON,
        exp.JSONArrayAgg,
        exp.JSONObject,
        exp.JSONObjectAgg,
        exp.JSONBObjectAgg,
        exp.StringToArray,
        exp.Rand,
        exp.Uuid,
    }
)


def _pure_functions() -> frozenset[type[exp.Func]]:
    members = {
        cls
        for cls in vars(exp).values()
        if inspect.isclass(cls) and issubclass(cls, exp.Func) and cls.__module__ in _PURE_FUNCTION_MODULES
    }
    return frozenset(members - _IMPURE_MEMBERS)


QUERY_FUNCTIONS: frozenset[type[exp.Func]] = _pure_functions() | _GENERAL_FUNCTIONS
"""Function classes an embedded query may call, in any dialect."""

CLAUSE_FUNCTIONS: frozenset[type[exp.Func]] = frozenset(
    {
        exp.Cast,
        exp.TryCast,
        exp.Coalesce,
        exp.Nullif,
        exp.Greatest,
        exp.Least,
        exp.Case,
        exp.If,
        exp.Lower,
        exp.Upper,
        exp.Trim,
        exp.Length,
        exp.Substring,
        exp.Concat,
        exp.Abs,
        exp.Round,
        exp.Floor,
        exp.Ceil,
        exp.CurrentDate,
        exp.CurrentTimestamp,
        exp.DateTrunc,
        exp.TimestampTrunc,
        exp.DateAdd,
        exp.DateSub,
        exp.Extract,
        exp.And,
        exp.Or,
    }
)
"""Function classes a row-level filter clause may call: deliberately fewer than a query may."""

# Functions sqlglot parses as ``exp.Anonymous`` that are still plain value functions, per dialect. Names are
# compared lower-cased.
_ANONYMOUS_FUNCTIONS: dict[str, frozenset[str]] = {
    "postgres": frozenset(
        {
            "age",
            "btrim",
            "make_date",
            "date_part",
            "to_timestamp",
            "justify_interval",
            "json_build_object",
            "jsonb_build_object",
            "json_build_array",
            "jsonb_build_array",
            "cardinality",
            "every",
            "statement_timestamp",
            "clock_timestamp",
        }
    ),
    "duckdb": frozenset({"date_part", "make_date", "strftime", "epoch"}),
    "clickhouse": frozenset({"todate", "tostartofmonth", "tostartofweek", "tostartofday", "toyyyymm"}),
    "trino": frozenset({"date_format", "from_iso8601_date"}),
    "mysql": frozenset({"date_format", "makedate"}),
    "snowflake": frozenset({"date_part", "iff"}),
    "bigquery": frozenset({"format_date", "date_diff"}),
}


def _anonymous_function_allowed(name: str, dialect: str) -> bool:
    """Whether a function sqlglot does not model is on the dialect's allow-list."""
    return name.lower() in _ANONYMOUS_FUNCTIONS.get(dialect, frozenset())


def function_allowed(node: exp.Func, allowed: frozenset[type[exp.Func]], dialect: str) -> bool:
    """Whether ``node`` is a call to a function in ``allowed`` or on the dialect's anonymous allow-list."""
    if isinstance(node, exp.Anonymous):
        return _anonymous_function_allowed(node.name, dialect)
    return type(node) in allowed


def function_call(node: exp.Func, dialect: str) -> str:
    """The call as the dialect writes it (shortened), for error messages."""
    call = node.sql(dialect)
    return call if len(call) <= 60 else call[:57] + "..."
