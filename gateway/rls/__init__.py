"""Row-level security: filter clauses, their resolution per dataset, and the SQL rewriter.

The flow, one module per step:

- ``clause``: validate a filter clause or compile a typed rule at mint time (``parse_clause``,
  ``compile_typed_rule``); templates such as ``{{ user.attributes.region }}`` stay placeholders.
- ``resolve``: a token's rules, the tenant's filters and the user -> one predicate per dataset
  (Superset's Regular/Base/group_key semantics), templates bound as literals.
- ``catalog``: the tables a request may read and their predicates (``Catalog.build``).
- ``rewrite``: parse, run ``PASSES`` (``validate`` -> ``qualify`` -> ``apply_filters``, or
  ``apply_filters_in_where`` for engines without derived tables), generate; ``RewriteCache`` memoises it.
- ``cache``: the resolved-predicate cache (in-process LRU in front of Redis).
- ``cli``: ``gateway rewrite``.

Every refusal is an ``errors.RlsError`` with a stable ``code``.
"""
