"""Filter resolution with Superset's Regular/Base/group_key semantics."""

from __future__ import annotations

import pytest
from sqlglot import exp

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.errors import ResolutionError
from gateway.rls.resolve import (
    FilterType,
    TenantFilter,
    TokenRule,
    User,
    bind_templates,
    resolve_predicate,
    rules_fingerprint,
    token_rules,
)
from gateway.rls.rewrite import rewrite_sql
from tests.rls.helpers import RowSecurityDatabase

ORDERS = frozenset({"orders"})


def clause(sql: str) -> exp.Expression:
    return parse_clause(sql, dialect="postgres", columns=None)


def resolved(
    rules: list[TokenRule], filters: list[TenantFilter], user: User | None = None, dataset: str = "orders"
) -> str | None:
    predicate = resolve_predicate(dataset, rules=rules, tenant_filters=filters, user=user or User())
    return predicate.sql("postgres") if predicate is not None else None


def test_no_rule_means_no_filter() -> None:
    assert resolved([], []) is None


def test_rules_without_group_key_are_anded_and_parenthesised() -> None:
    rules = [TokenRule("orders", clause("a = 1 OR b = 2")), TokenRule("orders", clause("c = 3"))]
    assert resolved(rules, []) == "(a = 1 OR b = 2) AND (c = 3)"


def test_regular_rules_sharing_a_group_key_are_ored() -> None:
    rules = [
        TokenRule("orders", clause("region = 'EU'"), "region"),
        TokenRule("orders", clause("region = 'US'"), "region"),
        TokenRule("orders", clause("tenant_id = 1")),
    ]
    assert resolved(rules, []) == "(tenant_id = 1) AND ((region = 'EU') OR (region = 'US'))"


def test_rules_for_other_datasets_do_not_apply_and_star_applies_everywhere() -> None:
    rules = [TokenRule("customers", clause("x = 1")), TokenRule("*", clause("tenant_id = 1"))]
    assert resolved(rules, []) == "(tenant_id = 1)"
    assert resolved(rules, [], dataset="customers") == "(x = 1) AND (tenant_id = 1)"


def test_base_filter_applies_unless_a_regular_filter_of_its_group_applies() -> None:
    base = [TenantFilter(ORDERS, clause("region = 'none'"), FilterType.BASE, group_key="region")]
    assert resolved([], base) == "(region = 'none')"
    regular = [TokenRule("orders", clause("region = 'EU'"), "region")]
    assert resolved(regular, base) == "(region = 'EU')"
    other_group = [TokenRule("orders", clause("tenant_id = 1"), "tenant")]
    assert resolved(other_group, base) == "(tenant_id = 1) AND (region = 'none')"


def test_base_filter_exempts_its_roles_and_regular_tenant_filter_needs_one() -> None:
    filters = [
        TenantFilter(ORDERS, clause("archived = FALSE"), FilterType.BASE, roles=frozenset({"auditor"})),
        TenantFilter(ORDERS, clause("region = 'EU'"), FilterType.REGULAR, roles=frozenset({"europe"})),
    ]
    assert resolved([], filters) == "(archived = FALSE)"
    assert resolved([], filters, User(roles=frozenset({"auditor"}))) is None
    assert (
        resolved([], filters, User(roles=frozenset({"europe"}))) == "(region = 'EU') AND (archived = FALSE)"
    )


def test_a_regular_tenant_filter_also_lifts_the_base_filter_of_its_group() -> None:
    filters = [
        TenantFilter(ORDERS, clause("region = 'none'"), FilterType.BASE, group_key="region"),
        TenantFilter(ORDERS, clause("region = 'EU'"), FilterType.REGULAR, frozenset({"europe"}), "region"),
    ]
    assert resolved(
        [TokenRule("orders", clause("region = 'US'"), "region")], filters, User(roles=frozenset({"europe"}))
    ) == ("((region = 'US') OR (region = 'EU'))")


def test_templates_bind_values_as_literals_never_as_sql() -> None:
    rule = TokenRule(
        "orders", clause("owner = {{ user.username }} AND region IN ({{ user.attributes.regions }})")
    )
    user = User(username="x' OR '1'='1", attributes={"regions": ["EU", "US"]})
    assert resolved([rule], [], user) == "(owner = 'x'' OR ''1''=''1' AND region IN ('EU', 'US'))"


@pytest.mark.parametrize(
    ("template", "user", "code"),
    [
        ("region = {{ user.attributes.region }}", User(), "missing_attribute"),
        ("owner = {{ user.username }}", User(), "missing_attribute"),
        ("region = {{ user.attributes.region }}", User(attributes={"region": ["EU"]}), "template_value"),
        ("region = {{ user.attributes.region }}", User(attributes={"region": {"a": 1}}), "template_value"),
        ("region IN ({{ user.attributes.region }})", User(attributes={"region": []}), "template_value"),
    ],
)
def test_an_unbindable_template_is_an_error_not_an_empty_value(template: str, user: User, code: str) -> None:
    with pytest.raises(ResolutionError) as error:
        bind_templates(clause(template), user)
    assert error.value.code == code


def test_the_rules_fingerprint_changes_with_anything_that_changes_the_filter() -> None:
    rules = [{"dataset": "orders", "clause": "region = {{ user.attributes.region }}"}]
    base = rules_fingerprint(rules, User(attributes={"region": "EU"}))
    assert rules_fingerprint(rules, User(attributes={"region": "EU"})) == base
    assert rules_fingerprint(rules, User(attributes={"region": "US"})) != base
    assert rules_fingerprint(rules, User(attributes={"region": "EU"}, roles=frozenset({"a"}))) != base
    assert rules_fingerprint([{**rules[0], "group_key": "g"}], User(attributes={"region": "EU"})) != base


@pytest.mark.postgres
def test_resolved_filters_select_the_rows_superset_semantics_promise(
    row_security_db: RowSecurityDatabase,
) -> None:
    """End to end: rules and base filters resolved, applied by the rewriter, run on real rows."""
    rules = [
        TokenRule("orders", clause("region = 'EU'"), "region"),
        TokenRule("orders", clause("region = {{ user.attributes.second_region }}"), "region"),
        TokenRule("*", clause("tenant_id = {{ user.attributes.tenant }}")),
    ]
    filters = [
        TenantFilter(ORDERS, clause("region IS NULL"), FilterType.BASE, group_key="region"),
        TenantFilter(ORDERS, clause("status <> 'cancelled'"), FilterType.BASE, roles=frozenset({"auditor"})),
    ]
    user = User(attributes={"second_region": "US", "tenant": 2})
    predicate = resolve_predicate("orders", rules=rules, tenant_filters=filters, user=user)
    catalog = Catalog.build({"public.orders": predicate}, dialect="postgres")
    rewritten = rewrite_sql("SELECT id FROM orders", dialect="postgres", catalog=catalog)
    expected = row_security_db.owner.execute(
        "SELECT id FROM orders WHERE tenant_id = 2 AND status <> 'cancelled' AND region IN ('EU', 'US')"
    ).fetchall()
    assert expected
    assert sorted(row_security_db.owner.execute(rewritten).fetchall()) == sorted(expected)


def test_token_rules_are_read_from_the_claim_and_parsed_again() -> None:
    rules = token_rules(
        [
            {"dataset": "orders", "clause": "region = 'EU'", "group_key": "region"},
            {"dataset": "*", "clause": "a = 1"},
        ],
        dialect="postgres",
    )
    assert [(rule.dataset, rule.clause.sql(), rule.group_key) for rule in rules] == [
        ("orders", "region = 'EU'", "region"),
        ("*", "a = 1", None),
    ]


@pytest.mark.parametrize(
    ("claim", "code"),
    [
        ({"dataset": "orders"}, "rule_malformed"),
        ({"dataset": 1, "clause": "a = 1"}, "rule_malformed"),
        ({"dataset": "orders", "clause": "a = 1", "group_key": 5}, "rule_malformed"),
        ({"dataset": "orders", "clause": "a = 1; DROP TABLE orders"}, "clause_multiple_statements"),
        ({"dataset": "orders", "clause": "a IN (SELECT a FROM secrets)"}, "clause_subquery"),
    ],
)
def test_a_forged_or_malformed_token_rule_is_refused(claim: dict[str, object], code: str) -> None:
    with pytest.raises(ResolutionError) as error:
        token_rules([claim], dialect="postgres")
    assert error.value.code == code
