"""Which SQL functions a filter clause or an embedded query may call.

Both lists are allow-lists (fail closed): a function sqlglot does not know (``exp.Anonymous``) is accepted
only when its name is listed for the dialect, and a known function only when its class is. Server
information (``version()``, ``current_user``, ``current_setting``), side effects (``set_config``,
``pg_sleep``), file and large-object access (``pg_read_file``, ``lo_import``), remote access (``dblink``)
and table-valued functions are on neither list, so they are refused.

The classes are spelled out by name rather than gathered from sqlglot, so an upgrade of sqlglot cannot
widen what a guest may call; a name the installed sqlglot no longer has fails the import.
"""

from __future__ import annotations

from sqlglot import exp

# Pure value functions: they read only their arguments and the row. sqlglot files a few more functions
# with these families that reach outside the row or make rows, and those are left out on purpose: AIAgg,
# AISummarizeAgg (AI services), ToFile (files), Secret (secrets), Encrypt, EncryptRaw, Decrypt, DecryptRaw
# (keys), GapFill, GenerateDateArray, GenerateTimestampArray (row generators).

# The names are wrapped as paragraphs, not one per line.
# fmt: off
_AGGREGATES: frozenset[str] = frozenset(
    {
        "AnyValue", "ApproxDistinct", "ApproximateSimilarity", "ApproxPercentileAccumulate",
        "ApproxPercentileCombine", "ApproxPercentileEstimate", "ApproxQuantile", "ApproxQuantiles",
        "ApproxTopK", "ApproxTopKAccumulate", "ApproxTopKCombine", "ApproxTopKEstimate", "ApproxTopSum",
        "ArgMax", "ArgMin", "ArrayAgg", "ArrayConcatAgg", "ArrayUnionAgg", "ArrayUniqueAgg", "Avg", "Corr",
        "Count", "CountIf", "CovarPop", "CovarSamp", "CumeDist", "DenseRank", "First", "FirstValue",
        "GroupConcat", "Grouping", "GroupingId", "Kurtosis", "Lag", "Last", "LastValue", "Lead",
        "LogicalAnd", "LogicalOr", "Max", "Median", "Min", "Minhash", "MinhashCombine", "Mode", "NthValue",
        "Ntile", "ObjectAgg", "PercentileCont", "PercentileDisc", "PercentRank", "Quantile", "Rank",
        "RegrAvgx", "RegrAvgy", "RegrCount", "RegrIntercept", "RegrR2", "RegrSlope", "RegrSxx", "RegrSxy",
        "RegrSyy", "RegrValx", "RegrValy", "RowNumber", "Skewness", "Stddev", "StddevPop", "StddevSamp",
        "Sum", "Variance", "VariancePop",
    }
)

_MATH: frozenset[str] = frozenset(
    {
        "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atan2", "Atanh", "BitmapBitPosition",
        "BitmapBucketNumber", "BitmapConstructAgg", "BitmapCount", "BitmapOrAgg", "BitwiseAndAgg",
        "BitwiseCount", "BitwiseOrAgg", "BitwiseXorAgg", "Booland", "Boolnot", "Boolor", "BoolxorAgg",
        "Cbrt", "Ceil", "Cos", "Cosh", "CosineDistance", "Cot", "Coth", "Csc", "Csch", "Degrees",
        "DotProduct", "EuclideanDistance", "Exp", "Factorial", "Floor", "Getbit", "IsInf", "IsNan",
        "JarowinklerSimilarity", "Ln", "Log", "ManhattanDistance", "Nanvl", "Negative", "Pi", "Pow",
        "Radians", "Rand", "Rint", "Round", "SafeAdd", "SafeDivide", "SafeMultiply", "SafeNegate",
        "SafeSubtract", "Sec", "Sech", "Sign", "Sin", "Sinh", "Sqrt", "Tan", "Tanh", "Trunc", "WidthBucket",
    }
)

_STRINGS: frozenset[str] = frozenset(
    {
        "Ascii", "Base64DecodeBinary", "Base64DecodeString", "Base64Encode", "BitLength", "ByteLength",
        "Chr", "CityHash64", "CodePointsToBytes", "CodePointsToString", "Compress", "Concat", "ConcatWs",
        "Contains", "ConvertToCharset", "Decode", "DecompressBinary", "DecompressString", "Elt", "Encode",
        "EndsWith", "FarmFingerprint", "Format", "FromBase", "FromBase32", "FromBase64", "Hex",
        "HexDecodeString", "Initcap", "IsAscii", "Left", "Length", "Levenshtein", "Lower", "LowerHex",
        "MatchAgainst", "MD5", "MD5Digest", "MD5NumberLower64", "MD5NumberUpper64", "Normalize",
        "NumberToStr", "Overlay", "Pad", "ParseBignumeric", "ParseNumeric", "ParseUrl", "RegexpCount",
        "RegexpExtract", "RegexpExtractAll", "RegexpFullMatch", "RegexpILike", "RegexpInstr", "RegexpLike",
        "RegexpReplace", "RegexpSplit", "RegexpSubstr", "Repeat", "Replace", "Reverse", "Right",
        "RtrimmedLength", "SafeConvertBytesToString", "Search", "SearchIp", "SHA", "SHA1Digest", "SHA2",
        "SHA2Digest", "Soundex", "SoundexP123", "Space", "Split", "SplitPart", "StandardHash", "StartsWith",
        "String", "StrPosition", "Strtok", "StrToMap", "Stuff", "Substring", "SubstringIndex", "ToBase32",
        "ToBase64", "ToBinary", "ToChar", "ToCodePoints", "ToDecfloat", "ToDouble", "ToNumber", "Translate",
        "Trim", "TryBase64DecodeBinary", "TryBase64DecodeString", "TryHexDecodeBinary",
        "TryHexDecodeString", "TryToDecfloat", "Unhex", "Unicode", "Upper", "Uuid", "WeightString",
    }
)

_DATES_AND_TIMES: frozenset[str] = frozenset(
    {
        "AddMonths", "ConvertTimezone", "CurrentDate", "CurrentDatetime", "CurrentTime", "CurrentTimestamp",
        "CurrentTimestampLTZ", "CurrentTimezone", "Date", "DateAdd", "DateBin", "DateDiff", "DateFromParts",
        "DateFromUnixDate", "DateStrToDate", "DateSub", "Datetime", "DatetimeAdd", "DatetimeDiff",
        "DatetimeSub", "DatetimeTrunc", "DateToDateStr", "DateToDi", "DateTrunc", "Day", "Dayname",
        "DayOfMonth", "DayOfWeek", "DayOfWeekIso", "DayOfYear", "DiToDate", "Extract", "FromISO8601Date",
        "FromISO8601Timestamp", "FromISO8601TimestampNanos", "GetExtract", "Hour", "JustifyDays",
        "JustifyHours", "JustifyInterval", "LastDay", "Localtime", "Localtimestamp", "MakeInterval",
        "Minute", "Month", "Monthname", "MonthsBetween", "NextDay", "ParseDatetime", "ParseTime",
        "PreviousDay", "Quarter", "Second", "StrToDate", "StrToTime", "StrToUnix", "Systimestamp", "Time",
        "TimeAdd", "TimeDiff", "TimeFromParts", "TimeSlice", "Timestamp", "TimestampAdd", "TimestampDiff",
        "TimestampFromParts", "TimestampLtzFromParts", "TimestampSub", "TimestampTrunc",
        "TimestampTzFromParts", "TimeStrToDate", "TimeStrToTime", "TimeStrToUnix", "TimeSub", "TimeToStr",
        "TimeToTimeStr", "TimeToUnix", "TimeTrunc", "ToDays", "TsOrDiToDi", "TsOrDsAdd", "TsOrDsDiff",
        "TsOrDsToDate", "TsOrDsToDateStr", "TsOrDsToDatetime", "TsOrDsToTime", "TsOrDsToTimestamp",
        "UnixDate", "UnixMicros", "UnixMillis", "UnixSeconds", "UnixToStr", "UnixToTime", "UnixToTimeStr",
        "UtcDate", "UtcTime", "UtcTimestamp", "Week", "WeekOfYear", "Year", "YearOfWeek", "YearOfWeekIso",
    }
)

_CONDITIONS_AND_CASTS: frozenset[str] = frozenset(
    {
        "And", "Case", "Cast", "CastToStrType", "Coalesce", "Collate", "EqualNull", "Exists", "Greatest",
        "If", "Least", "Nullif", "Nvl2", "Or", "TryCast", "Xor",
    }
)

_ARRAYS: frozenset[str] = frozenset(
    {
        "Array", "ArrayContains", "ArrayContainsAll", "ArrayOverlaps", "ArraySize", "ArrayToString",
        "StringToArray",
    }
)

_JSON: frozenset[str] = frozenset(
    {
        "JSONArrayAgg", "JSONBContains", "JSONBExtract", "JSONBExtractScalar", "JSONBObjectAgg",
        "JSONExtract", "JSONExtractScalar", "JSONObject", "JSONObjectAgg", "ParseJSON",
    }
)

QUERY_FUNCTION_NAMES: frozenset[str] = (
    _AGGREGATES | _MATH | _STRINGS | _DATES_AND_TIMES | _CONDITIONS_AND_CASTS | _ARRAYS | _JSON
)
"""Names of the sqlglot expression classes an embedded query may call, in any dialect."""

CLAUSE_FUNCTION_NAMES: frozenset[str] = frozenset(
    {
        "Abs", "And", "Case", "Cast", "Ceil", "Coalesce", "Concat", "CurrentDate", "CurrentTimestamp",
        "DateAdd", "DateSub", "DateTrunc", "Extract", "Floor", "Greatest", "If", "Least", "Length", "Lower",
        "Nullif", "Or", "Round", "Substring", "TimestampTrunc", "Trim", "TryCast", "Upper",
    }
)
# fmt: on
"""Names of the classes a row-level filter clause may call: deliberately fewer than a query may."""


def _function_classes(names: frozenset[str]) -> frozenset[type[exp.Func]]:
    return frozenset(getattr(exp, name) for name in names)


QUERY_FUNCTIONS: frozenset[type[exp.Func]] = _function_classes(QUERY_FUNCTION_NAMES)
CLAUSE_FUNCTIONS: frozenset[type[exp.Func]] = _function_classes(CLAUSE_FUNCTION_NAMES)

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
