"""Minting at `POST /api/v1/security/guest_token/`: each resource and rule type, the claims signed, and every
validation failure (422, the offender named, no token)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from tests.support.guests import (
    AUDIENCE,
    ISSUER,
    MINT_PATH,
    Gateway,
    Tenant,
    assert_api_error,
    claims_of,
    default_body,
    header_of,
    verify_with_jwks,
)

DIALECT = "duckdb"  # the tenants' dialect (see Gateway.onboard)


def same_sql(actual: str, expected: str) -> bool:
    """Whether two boolean expressions are the same SQL once parsed (spelling and spacing aside)."""
    return bool(
        sqlglot.parse_one(actual, read=DIALECT).sql(DIALECT)
        == sqlglot.parse_one(expected, read=DIALECT).sql(DIALECT)
    )


@pytest.fixture(scope="module")
def pair(gw: Gateway) -> tuple[Tenant, Tenant]:
    """Tenant A (who mints) and tenant B (whose things A must not name). B has a dataset A lacks."""
    return gw.onboard(max_ttl=900, token_ttl=120), gw.onboard(extra_dataset="invoices")


@pytest.fixture(scope="module")
def access(gw: Gateway, pair: tuple[Tenant, Tenant]) -> str:
    return gw.access_token(pair[0].app)


@pytest.fixture
def mint(gw: Gateway, pair: tuple[Tenant, Tenant], access: str) -> Callable[..., dict[str, Any]]:
    """Mint for tenant A with a body built from `default_body(A)` plus overrides; the token's claims."""

    def mint(**overrides: Any) -> dict[str, Any]:
        token = gw.mint(pair[0], default_body(pair[0], **overrides), access=access)
        return claims_of(token)

    return mint


# ---------------------------------------------------------------------------------------- claims


def test_claims_of_a_minted_token(gw: Gateway, pair: tuple[Tenant, Tenant], access: str) -> None:
    a, _ = pair
    before = int(time.time())
    body = {
        "user": {
            "username": "alice@example.com",
            "first_name": "Alice",
            "last_name": "Liddell",
            "attributes": {"region": "EMEA", "level": 3, "teams": ["red", "blue"]},
            "roles": ["analyst", "emea_viewer"],
        },
        "resources": [{"type": "dashboard", "id": a.dashboard["id"]}],
        "rls": [{"dataset": "orders", "clause": "region = 'EMEA'"}],
    }
    token = gw.mint(a, body, access=access)
    after = int(time.time())
    header, claims = header_of(token), claims_of(token)
    assert header["alg"] == "EdDSA" and header["kid"] == gw.active_kid(a)
    assert claims["iss"] == ISSUER and claims["aud"] in (AUDIENCE, [AUDIENCE])
    assert claims["sub"] == "alice@example.com"
    assert claims["tid"] == a.id
    assert claims["type"] == "guest"
    assert before <= claims["iat"] <= after + 1 and claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == 120  # the tenant's token_ttl_seconds
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["user"] == {
        "username": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Liddell",
        "attributes": {"region": "EMEA", "level": 3, "teams": ["red", "blue"]},
        "roles": ["analyst", "emea_viewer"],
    }
    assert claims["resources"] == [{"type": "dashboard", "id": a.dashboard["id"]}]
    assert len(claims["rls_rules"]) == 1
    rule = claims["rls_rules"][0]
    assert rule["dataset"] == "orders" and same_sql(rule["clause"], "region = 'EMEA'")
    assert "origins" not in claims
    # Two mints never share a jti.
    assert claims_of(gw.mint(a, body, access=access))["jti"] != claims["jti"]
    # And the token verifies for a third party.
    assert verify_with_jwks(gw.jwks(), token)["jti"] == claims["jti"]


def test_both_paths_mint(gw: Gateway, pair: tuple[Tenant, Tenant], access: str) -> None:
    a, _ = pair
    for path in (MINT_PATH, MINT_PATH.rstrip("/")):
        response = gw.mint_response(access, default_body(a), path=path)
        assert response.status_code == 200, (path, response.text)
        # The answer is a credential: no cache may keep it (RFC 6749 5.1 asks the same of access tokens).
        assert response.headers.get("cache-control") == "no-store"
        assert claims_of(response.json()["token"])["tid"] == a.id


def test_resources_are_named_as_the_registry_names_them(
    gw: Gateway, pair: tuple[Tenant, Tenant], access: str
) -> None:
    """A dashboard asked for as "01" is granted as 1, so the token can then read /dashboard/1."""
    a, _ = pair
    padded = f"0{a.dashboard['id']}"
    body = {**default_body(a), "resources": [{"type": "dashboard", "id": padded}]}
    response = gw.mint_response(access, body)
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    assert claims_of(token)["resources"] == [{"type": "dashboard", "id": a.dashboard["id"]}]
    assert gw.dashboard(token, a.dashboard["id"]).status_code == 200
    assert gw.dashboard(token, a.dashboard["uuid"]).status_code == 200


def test_superset_minimal_body(gw: Gateway, pair: tuple[Tenant, Tenant], access: str) -> None:
    """The exact body a host written for Superset sends."""
    a, _ = pair
    body = {
        "user": {"username": "bob", "first_name": "Bob", "last_name": "B"},
        "resources": [{"type": "dashboard", "id": a.dashboard["uuid"]}],
        "rls": [{"clause": "customer = 'bob'", "dataset": a.datasets["orders"]["id"]}],
    }
    claims = claims_of(gw.mint(a, body, access=access))
    assert claims["sub"] == "bob"
    assert claims["rls_rules"][0]["dataset"] == "orders"


def resource_ids(tenant: Tenant, kind: str) -> list[Any]:
    """Every way a resource of this kind may be named: id and uuid, or id and name for datasets."""
    if kind == "dashboard":
        return [tenant.dashboard["id"], tenant.dashboard["uuid"]]
    if kind == "chart":
        return [tenant.charts[0]["id"], tenant.charts[0]["uuid"]]
    dataset = tenant.datasets["orders"]
    return [dataset["id"], dataset["name"]]


@pytest.mark.parametrize("kind", ["dashboard", "chart", "dataset"])
@pytest.mark.parametrize("spelling", [0, 1], ids=["by-id", "by-uuid-or-name"])
def test_each_resource_type(
    mint: Callable[..., dict[str, Any]], pair: tuple[Tenant, Tenant], kind: str, spelling: int
) -> None:
    a, _ = pair
    names = resource_ids(a, kind)
    claims = mint(resources=[{"type": kind, "id": names[spelling]}])
    assert len(claims["resources"]) == 1
    resource = claims["resources"][0]
    assert resource["type"] == kind
    # "As given, normalised": the same entity, named by one of its identifiers.
    assert resource["id"] in names or str(resource["id"]) in {str(n) for n in names}, resource


def test_several_resources_in_one_token(
    mint: Callable[..., dict[str, Any]], pair: tuple[Tenant, Tenant]
) -> None:
    a, _ = pair
    resources = [
        {"type": "dashboard", "id": a.dashboards[0]["id"]},
        {"type": "dashboard", "id": a.dashboards[1]["uuid"]},
        {"type": "chart", "id": a.charts[1]["id"]},
        {"type": "dataset", "id": "customers"},
    ]
    claims = mint(resources=resources)
    assert [r["type"] for r in claims["resources"]] == ["dashboard", "dashboard", "chart", "dataset"]


# ----------------------------------------------------------------------------------------- rules


def test_clause_rule_by_dataset_name_and_id(
    mint: Callable[..., dict[str, Any]], pair: tuple[Tenant, Tenant]
) -> None:
    a, _ = pair
    claims = mint(
        rls=[
            {"dataset": "orders", "clause": "region IN ('EMEA', 'APAC') AND amount > 10"},
            {"dataset": a.datasets["customers"]["id"], "clause": "name LIKE 'A%'"},
        ]
    )
    first, second = claims["rls_rules"]
    assert first["dataset"] == "orders"
    assert same_sql(first["clause"], "region IN ('EMEA', 'APAC') AND amount > 10")
    assert second["dataset"] == "customers"  # an id is normalised to the dataset's name
    assert same_sql(second["clause"], "name LIKE 'A%'")
    assert "group_key" not in first or first["group_key"] is None


def test_rule_for_every_dataset_and_group_keys(mint: Callable[..., dict[str, Any]]) -> None:
    claims = mint(
        rls=[
            {"dataset": "*", "clause": "tenant_id = 42"},
            {"dataset": "orders", "clause": "region = 'EMEA'", "group_key": "region"},
            {"dataset": "orders", "clause": "region = 'APAC'", "group_key": "region"},
        ]
    )
    everywhere, emea, apac = claims["rls_rules"]
    assert everywhere["dataset"] == "*" and same_sql(everywhere["clause"], "tenant_id = 42")
    assert emea["group_key"] == "region" and apac["group_key"] == "region"
    assert same_sql(apac["clause"], "region = 'APAC'")


@pytest.mark.parametrize(
    ("column", "op", "value", "expected"),
    [
        ("customer", "==", "O'Brien", "customer = 'O''Brien'"),
        ("region", "!=", "EMEA", "region <> 'EMEA'"),
        ("amount", ">", 10, "amount > 10"),
        ("amount", ">=", 2.5, "amount >= 2.5"),
        ("amount", "<", 100, "amount < 100"),
        ("amount", "<=", 100, "amount <= 100"),
        ("region", "IN", ["EMEA", "APAC"], "region IN ('EMEA', 'APAC')"),
        ("region", "NOT IN", ["EMEA"], "region NOT IN ('EMEA')"),
        ("customer", "LIKE", "A%", "customer LIKE 'A%'"),
        ("region", "IS NULL", None, "region IS NULL"),
        ("region", "IS NOT NULL", None, "region IS NOT NULL"),
        ("amount", "BETWEEN", [1, 9], "amount BETWEEN 1 AND 9"),
    ],
)
def test_typed_rules_compile_with_bound_literals(
    mint: Callable[..., dict[str, Any]], column: str, op: str, value: Any, expected: str
) -> None:
    rule: dict[str, Any] = {"dataset": "orders", "column": column, "op": op, "group_key": "typed"}
    if op not in ("IS NULL", "IS NOT NULL"):
        rule["value"] = value
    compiled = mint(rls=[rule])["rls_rules"][0]
    assert compiled["dataset"] == "orders" and compiled["group_key"] == "typed"
    assert same_sql(compiled["clause"], expected), compiled["clause"]
    assert set(compiled) <= {"dataset", "clause", "group_key"}, compiled
    if value == "O'Brien":
        assert "'O''Brien'" in compiled["clause"]


@pytest.mark.parametrize(
    "payload",
    ["x' OR '1'='1", "x'); DROP TABLE orders; --", "x' OR 1=1 /*", "\\' OR 1=1 --"],
)
def test_typed_rule_values_cannot_inject_sql(mint: Callable[..., dict[str, Any]], payload: str) -> None:
    clause = mint(rls=[{"dataset": "orders", "column": "customer", "op": "==", "value": payload}])[
        "rls_rules"
    ][0]["clause"]
    parsed = sqlglot.parse_one(clause, read=DIALECT)
    # Exactly `customer = <one string literal>` holding the payload verbatim: no OR, no second statement.
    assert isinstance(parsed, exp.EQ), clause
    assert isinstance(parsed.left, exp.Column) and parsed.left.name == "customer"
    assert isinstance(parsed.right, exp.Literal) and parsed.right.is_string
    assert parsed.right.this == payload
    assert len(sqlglot.parse(clause, read=DIALECT)) == 1


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("region = {{ user.attributes.region }}", "region = 'EM''EA'"),
        ("customer = {{ user.username }}", "customer = 'tmpl-user'"),
        ("region IN ({{ user.attributes.regions }}) AND tenant_id = {{user.attributes.t}}", None),
    ],
)
def test_clause_templates_are_accepted(
    mint: Callable[..., dict[str, Any]], template: str, rendered: str | None
) -> None:
    claims = mint(
        user={
            "username": "tmpl-user",
            "attributes": {"region": "EM'EA", "regions": ["EMEA", "APAC"], "t": 7},
        },
        rls=[{"dataset": "orders", "clause": template}],
    )
    clause = claims["rls_rules"][0]["clause"]
    # Either kept as a template (bound at query time) or rendered with the value bound as a literal.
    if "{{" in clause:
        assert " ".join(clause.split()) == " ".join(template.split())
    elif rendered is not None:
        assert same_sql(clause, rendered), clause
    else:
        assert same_sql(clause, "region IN ('EMEA', 'APAC') AND tenant_id = 7"), clause


def test_typed_rule_for_every_dataset(mint: Callable[..., dict[str, Any]]) -> None:
    compiled = mint(rls=[{"dataset": "*", "column": "tenant_id", "op": "IN", "value": [1, 2]}])["rls_rules"][
        0
    ]
    assert compiled["dataset"] == "*" and same_sql(compiled["clause"], "tenant_id IN (1, 2)")


def test_ttl_default_request_and_cap(mint: Callable[..., dict[str, Any]]) -> None:
    default = mint()
    assert default["exp"] - default["iat"] == 120
    asked = mint(ttl=45)
    assert asked["exp"] - asked["iat"] == 45
    one = mint(ttl=1)
    assert one["exp"] - one["iat"] == 1
    capped = mint(ttl=10_000_000)
    assert capped["exp"] - capped["iat"] == 900  # the tenant's max_token_ttl_seconds


def test_origins_claim(mint: Callable[..., dict[str, Any]]) -> None:
    claims = mint(origins=["https://app.acme.example", "http://localhost:3000"])
    assert claims["origins"] == ["https://app.acme.example", "http://localhost:3000"]


# ------------------------------------------------------------------------------------ validation

Body = dict[str, Any]
Case = Callable[[Tenant, Tenant], Body]


def body_with(a: Tenant, **changes: Any) -> Body:
    return default_body(a, **changes)


def rule(clause: str, dataset: Any = "orders") -> list[dict[str, Any]]:
    return [{"dataset": dataset, "clause": clause}]


def typed(column: str, op: str, value: Any = None, *, with_value: bool = True) -> list[dict[str, Any]]:
    item: dict[str, Any] = {"dataset": "orders", "column": column, "op": op}
    if with_value:
        item["value"] = value
    return [item]


FIRST_OK = {"dataset": "orders", "clause": "amount > 0"}

VALIDATION_CASES: dict[str, tuple[Case, str | None, str | None]] = {
    # name: (body builder, expected code (None: any), expected field (None: not checked))
    "foreign dashboard by id": (
        lambda a, b: body_with(
            a,
            resources=[
                {"type": "dashboard", "id": a.dashboard["id"]},
                {"type": "dashboard", "id": b.dashboard["id"]},
            ],
        ),
        "unknown_resource",
        "resources[1]",
    ),
    "foreign dashboard by uuid": (
        lambda a, b: body_with(a, resources=[{"type": "dashboard", "id": b.dashboard["uuid"]}]),
        "unknown_resource",
        "resources[0]",
    ),
    "foreign chart": (
        lambda a, b: body_with(a, resources=[{"type": "chart", "id": b.charts[0]["uuid"]}]),
        "unknown_resource",
        "resources[0]",
    ),
    "foreign chart by id": (
        lambda a, b: body_with(a, resources=[{"type": "chart", "id": b.charts[1]["id"]}]),
        "unknown_resource",
        "resources[0]",
    ),
    "foreign dataset by id": (
        lambda a, b: body_with(a, resources=[{"type": "dataset", "id": b.datasets["invoices"]["id"]}]),
        "unknown_resource",
        "resources[0]",
    ),
    "foreign dataset by name": (
        lambda a, b: body_with(a, resources=[{"type": "dataset", "id": "invoices"}]),
        "unknown_resource",
        "resources[0]",
    ),
    "missing dashboard": (
        lambda a, b: body_with(a, resources=[{"type": "dashboard", "id": 987654}]),
        "unknown_resource",
        "resources[0]",
    ),
    "missing dashboard uuid": (
        lambda a, b: body_with(
            a, resources=[{"type": "dashboard", "id": "00000000-0000-4000-8000-000000000000"}]
        ),
        "unknown_resource",
        "resources[0]",
    ),
    "chart id given as dashboard": (
        # A chart's uuid is not a dashboard's: type and id are checked together.
        lambda a, b: body_with(a, resources=[{"type": "dashboard", "id": a.charts[0]["uuid"]}]),
        "unknown_resource",
        "resources[0]",
    ),
    "unknown resource type": (
        lambda a, b: body_with(a, resources=[{"type": "table", "id": "orders"}]),
        None,
        "resources[0]",
    ),
    "unknown rule dataset": (
        lambda a, b: body_with(a, rls=rule("id = 1", "nope")),
        "unknown_dataset",
        "rls[0]",
    ),
    "other tenant's dataset name": (
        lambda a, b: body_with(a, rls=[FIRST_OK, *rule("id = 1", "invoices")]),
        "unknown_dataset",
        "rls[1]",
    ),
    "other tenant's dataset id": (
        lambda a, b: body_with(a, rls=rule("id = 1", b.datasets["orders"]["id"])),
        "unknown_dataset",
        "rls[0]",
    ),
    "rule without a dataset": (
        # Never silently global: "*" must be explicit.
        lambda a, b: body_with(a, rls=[{"clause": "tenant_id = 1"}]),
        None,
        "rls[0]",
    ),
    "unknown column": (lambda a, b: body_with(a, rls=rule("secret = 1")), "clause_unknown_column", "rls[0]"),
    "column of another dataset": (
        lambda a, b: body_with(a, rls=[FIRST_OK, *rule("name = 'x'")]),
        "clause_unknown_column",
        "rls[1]",
    ),
    "subquery": (
        lambda a, b: body_with(a, rls=rule("tenant_id IN (SELECT tenant_id FROM customers)")),
        "clause_subquery",
        "rls[0]",
    ),
    "exists subquery": (
        lambda a, b: body_with(a, rls=rule("EXISTS (SELECT 1 FROM customers)")),
        "clause_subquery",
        "rls[0]",
    ),
    "multiple statements": (
        lambda a, b: body_with(a, rls=rule("tenant_id = 1; DROP TABLE orders")),
        "clause_multiple_statements",
        "rls[0]",
    ),
    "line comment": (
        lambda a, b: body_with(a, rls=rule("tenant_id = 1 -- AND region = 'EU'")),
        "clause_comment",
        "rls[0]",
    ),
    "block comment": (
        lambda a, b: body_with(a, rls=[FIRST_OK, FIRST_OK, *rule("tenant_id = 1 /* x */")]),
        "clause_comment",
        "rls[2]",
    ),
    "function": (lambda a, b: body_with(a, rls=rule("pg_sleep(10) IS NULL")), "clause_function", "rls[0]"),
    "aggregate": (lambda a, b: body_with(a, rls=rule("count(*) > 1")), "clause_function", "rls[0]"),
    "not boolean": (lambda a, b: body_with(a, rls=rule("amount + 1")), "clause_not_boolean", "rls[0]"),
    "bare column": (lambda a, b: body_with(a, rls=rule("tenant_id")), "clause_not_boolean", "rls[0]"),
    "syntax": (lambda a, b: body_with(a, rls=rule("region = ")), "clause_syntax", "rls[0]"),
    "parenthesis escape": (
        lambda a, b: body_with(a, rls=rule("tenant_id = 1) OR (1 = 1")),
        "clause_syntax",
        "rls[0]",
    ),
    "typed unknown column": (
        lambda a, b: body_with(a, rls=typed("secret", "==", 1)),
        "clause_unknown_column",
        "rls[0]",
    ),
    "typed column injection": (
        lambda a, b: body_with(a, rls=typed("region = region OR 1=1 --", "==", 1)),
        "clause_unknown_column",
        "rls[0]",
    ),
    "quoted template": (
        # Templates are bound as literals; a quoted one would splice text into a string.
        lambda a, b: body_with(a, rls=rule("customer = '{{ user.username }}'")),
        None,
        "rls[0]",
    ),
    "rule that is not an object": (
        lambda a, b: body_with(a, rls=["tenant_id = 1"]),
        None,
        "rls[0]",
    ),
    "every-dataset rule with a column one dataset lacks": (
        # "*" applies the clause to every dataset, so it must be valid for each of them.
        lambda a, b: body_with(a, rls=rule("region = 'EMEA'", "*")),
        "clause_unknown_column",
        "rls[0]",
    ),
    "bad group key": (
        lambda a, b: body_with(a, rls=[{"dataset": "orders", "clause": "amount > 0", "group_key": "a b"}]),
        None,
        "rls[0]",
    ),
    "typed bad op": (lambda a, b: body_with(a, rls=typed("region", "=~", "x")), "invalid_field", "rls[0]"),
    "typed IN scalar": (
        lambda a, b: body_with(a, rls=typed("region", "IN", "EMEA")),
        "invalid_field",
        "rls[0]",
    ),
    "typed IN empty": (lambda a, b: body_with(a, rls=typed("region", "IN", [])), "invalid_field", "rls[0]"),
    "typed BETWEEN one": (
        lambda a, b: body_with(a, rls=[FIRST_OK, *typed("amount", "BETWEEN", [1])]),
        "invalid_field",
        "rls[1]",
    ),
    "typed IS NULL with value": (
        lambda a, b: body_with(a, rls=typed("region", "IS NULL", "x")),
        "invalid_field",
        "rls[0]",
    ),
    "typed == without value": (
        lambda a, b: body_with(a, rls=typed("region", "==", with_value=False)),
        "invalid_field",
        "rls[0]",
    ),
    "typed LIKE with a number": (
        lambda a, b: body_with(a, rls=typed("customer", "LIKE", 5)),
        "invalid_field",
        "rls[0]",
    ),
    "typed object value": (
        lambda a, b: body_with(a, rls=typed("region", "==", {"a": 1})),
        "invalid_field",
        "rls[0]",
    ),
    "ttl zero": (lambda a, b: body_with(a, ttl=0), None, "ttl"),
    "ttl negative": (lambda a, b: body_with(a, ttl=-30), None, "ttl"),
    "ttl not a number": (lambda a, b: body_with(a, ttl="forever"), None, "ttl"),
    "origin not allowed": (
        lambda a, b: body_with(a, origins=["https://app.acme.example", "https://evil.example"]),
        "origin_not_allowed",
        "origins[1]",
    ),
    "origin lookalike suffix": (
        lambda a, b: body_with(a, origins=["https://app.acme.example.evil.example"]),
        "origin_not_allowed",
        "origins[0]",
    ),
    "origin wrong scheme": (
        lambda a, b: body_with(a, origins=["http://app.acme.example"]),
        None,
        "origins[0]",
    ),
    "unknown top-level field": (lambda a, b: body_with(a, admin=True), "unknown_field", None),
    "unknown user field": (
        lambda a, b: body_with(a, user={"username": "alice", "is_admin": True}),
        "unknown_field",
        None,
    ),
    "misspelt clause key": (
        # A typo must not mint a token without the filter the host meant to add.
        lambda a, b: body_with(a, rls=[{"dataset": "orders", "clase": "tenant_id = 1"}]),
        None,
        "rls[0]",
    ),
    "unknown resource field": (
        lambda a, b: body_with(a, resources=[{"type": "dashboard", "id": a.dashboard["id"], "all": True}]),
        None,
        "resources[0]",
    ),
    "missing username": (lambda a, b: body_with(a, user={"first_name": "Nobody"}), None, None),
    "empty username": (lambda a, b: body_with(a, user={"username": ""}), None, None),
    "missing user": (
        lambda a, b: {"resources": [{"type": "dashboard", "id": a.dashboard["id"]}], "rls": []},
        None,
        None,
    ),
    "template of a non-user value": (
        lambda a, b: body_with(a, rls=rule("tenant_id = {{ config.secret_key }}")),
        None,
        "rls[0]",
    ),
}


@pytest.mark.parametrize("case", list(VALIDATION_CASES))
def test_validation_failures_mint_no_token(
    gw: Gateway, pair: tuple[Tenant, Tenant], access: str, case: str
) -> None:
    build, code, field = VALIDATION_CASES[case]
    a, b = pair
    response = gw.mint_response(access, build(a, b))
    error = assert_api_error(response, 422, code)
    assert isinstance(error.get("message"), str) and error["message"]
    if field is not None:
        assert error.get("field") == field or str(error.get("field", "")).startswith(field + "."), error


def test_unknown_field_names_the_field(gw: Gateway, pair: tuple[Tenant, Tenant], access: str) -> None:
    a, _ = pair
    error = assert_api_error(gw.mint_response(access, body_with(a, sudo=True)), 422, "unknown_field")
    assert "sudo" in str(error.get("field")) or "sudo" in error["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'"just a string"', b""])
def test_a_body_that_is_not_a_json_object_is_refused(
    gw: Gateway, pair: tuple[Tenant, Tenant], access: str, raw: bytes
) -> None:
    response = gw.http.post(
        MINT_PATH,
        content=raw,
        headers={"Authorization": f"Bearer {access}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"
    assert "token" not in response.json()


def test_the_gateway_never_mints_a_token_it_would_refuse(
    gw: Gateway, pair: tuple[Tenant, Tenant], access: str
) -> None:
    """Rules big enough to push the token past 8 KiB: refused at mint (422), never a token over the limit."""
    a, _ = pair
    long_list = ", ".join(f"'customer-{i:05d}'" for i in range(300))
    rules = [{"dataset": "orders", "clause": f"customer IN ({long_list})"} for _ in range(3)]
    response = gw.mint_response(access, body_with(a, rls=rules))
    if response.status_code == 200:
        token = response.json()["token"]
        assert len(token) <= 8 * 1024
        assert gw.dashboard(token, a.dashboard["id"]).status_code == 200
    else:
        assert_api_error(response, 422)


def test_the_longest_token_a_tenant_may_mint_is_accepted(gw: Gateway) -> None:
    """The verifier's lifetime bound must cover the largest max_token_ttl_seconds a tenant may set."""
    tenant = gw.onboard(max_ttl=86_400, token_ttl=86_400)
    token = gw.mint(tenant, default_body(tenant, ttl=86_400))
    claims = claims_of(token)
    assert claims["exp"] - claims["iat"] == 86_400
    response = gw.dashboard(token, tenant.dashboard["id"])
    assert response.status_code == 200, response.text


def test_the_mint_endpoint_answers_no_cors(gw: Gateway, pair: tuple[Tenant, Tenant], access: str) -> None:
    """Server-to-server only: a browser on an allowed embed origin gets no CORS permission to mint."""
    a, _ = pair
    origin = "https://app.acme.example"
    minted = gw.http.post(
        MINT_PATH, json=default_body(a), headers={"Authorization": f"Bearer {access}", "Origin": origin}
    )
    assert "access-control-allow-origin" not in minted.headers
    preflight = gw.http.options(
        MINT_PATH,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-headers" not in preflight.headers
