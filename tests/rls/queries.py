"""Queries of the differential suites, and the queries every catalog must refuse.

``ACCEPTED`` covers every construct the rewriter must filter: every join kind, parenthesised joins, CTEs
(recursive, and named like a table), set operations, LATERAL, scalar/IN/ANY/ALL/EXISTS subqueries,
column-alias lists, schema-qualified columns and identifier case. Each must return, rewritten and run by
the owner, exactly what PostgreSQL row security returns to the restricted role.
"""

from __future__ import annotations

_SIMPLE = [
    "SELECT * FROM orders",
    "SELECT * FROM ORDERS",
    "SELECT * FROM Orders",
    'SELECT * FROM "orders"',
    "SELECT * FROM public.orders",
    "SELECT * FROM PUBLIC.ORDERS",
    'SELECT * FROM public."orders"',
    "SELECT id, amount FROM orders WHERE amount > 100",
    "SELECT id FROM orders WHERE region = 'US' OR 1 = 1",
    "SELECT id FROM orders WHERE TRUE OR tenant_id = 2",
    "SELECT id FROM orders WHERE NOT (tenant_id = 1)",
    "SELECT count(*) FROM orders",
    "SELECT count(*), sum(amount), min(created_at), max(created_at) FROM orders",
    "SELECT region, count(*) FROM orders GROUP BY region",
    "SELECT status, sum(amount) AS total FROM orders GROUP BY status HAVING sum(amount) > 100",
    "SELECT DISTINCT region FROM orders",
    "SELECT DISTINCT ON (region) region, id FROM orders ORDER BY region, id",
    "SELECT id FROM orders ORDER BY amount DESC, id LIMIT 5",
    "SELECT id FROM orders ORDER BY id LIMIT 5 OFFSET 3",
    "SELECT public.orders.id, public.orders.amount FROM public.orders",
    "SELECT public.orders.id FROM orders",
    "SELECT orders.id, ORDERS.amount FROM ORDERS",
    "SELECT o.id FROM orders o",
    "SELECT o.id FROM orders AS o WHERE o.amount > 10",
    "SELECT o.a, o.b FROM orders AS o(a, b)",
    "SELECT a, b FROM orders AS o(a, b) WHERE b = 1",
    "SELECT x FROM orders AS o(x) ORDER BY x LIMIT 7",
    "SELECT * FROM orders AS o(a, b, c)",
    "SELECT o::text FROM orders o",
    "SELECT * FROM customers",
    "SELECT * FROM products",
    'SELECT * FROM "MixedCase"',
    'SELECT * FROM public."MixedCase"',
    'SELECT m.k, count(*) FROM "MixedCase" AS m GROUP BY m.k',
    "SELECT * FROM ONLY orders",
    "SELECT id, CASE WHEN amount > 250 THEN 'big' ELSE 'small' END FROM orders",
    "SELECT date_trunc('month', created_at) AS m, sum(amount) FROM orders GROUP BY 1",
    "SELECT extract(year FROM created_at), count(*) FROM orders GROUP BY 1",
    "SELECT coalesce(region, 'none'), count(*) FROM orders GROUP BY 1",
    "SELECT lower(name), upper(region) FROM customers",
    "SELECT id, row_number() OVER (PARTITION BY region ORDER BY amount, id) FROM orders",
    "SELECT id, sum(amount) OVER (ORDER BY id) FROM orders",
    "SELECT count(*) FILTER (WHERE amount > 100) FROM orders",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM orders",
    "SELECT string_agg(name, ',' ORDER BY name) FROM customers",
    "SELECT json_agg(id ORDER BY id) FROM orders",
    "SELECT json_build_object('id', id, 'region', region) FROM orders",
    "SELECT every(amount > 10), cardinality(ARRAY[id, customer_id]) FROM orders GROUP BY id, customer_id",
    "SELECT id FROM orders WHERE created_at BETWEEN '2024-03-01' AND '2024-06-30'",
    "SELECT id FROM orders WHERE region IS NULL",
    "SELECT id FROM orders WHERE status LIKE 'p%'",
    "SELECT id FROM orders WHERE region IN ('EU', 'US')",
    "SELECT 1",
    "SELECT * FROM (VALUES (1, 'x'), (2, 'y')) AS v(a, b)",
    "SELECT amount::int FROM orders",
    # Lexical corners where a parser that disagreed with PostgreSQL would leak: comments that hide or
    # reveal SQL, nested comments, escape and dollar-quoted strings.
    "SELECT id AS a -- */ FROM secrets\n FROM orders",
    "SELECT id /* a comment */ FROM orders /* ; SELECT * FROM secrets */ WHERE id > 1",
    "SELECT 1 /* outer /* nested */ FROM secrets */ FROM orders",
    "SELECT E'\\'' || region FROM orders",
    "SELECT $$it's$$ || region FROM orders",
    'SELECT "a""b".id FROM orders AS "a""b"',
    "SELECT CAST(amount AS TEXT) FROM orders",
]

_JOINS = [
    "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id, c.name FROM orders o INNER JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id, c.name FROM orders o LEFT OUTER JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id, c.name FROM orders o RIGHT JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id, c.name FROM orders o FULL JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id, c.name FROM orders o FULL OUTER JOIN customers c ON c.id = o.customer_id AND c.region "
    "= 'EU'",
    "SELECT o.id, c.name FROM customers c LEFT JOIN orders o ON c.id = o.customer_id WHERE o.id IS NULL",
    "SELECT c.id FROM customers c RIGHT JOIN orders o ON c.id = o.customer_id WHERE c.id IS NULL",
    "SELECT count(*) FROM orders o CROSS JOIN customers c",
    "SELECT count(*) FROM orders, customers",
    "SELECT count(*) FROM orders o, customers c WHERE o.customer_id = c.id",
    "SELECT o.id, p.name FROM orders o JOIN products p USING (id)",
    "SELECT id, o.amount FROM orders o JOIN customers c USING (id)",
    "SELECT * FROM orders NATURAL JOIN customers",
    "SELECT count(*) FROM orders o LEFT JOIN customers c USING (tenant_id)",
    "SELECT o.id, c.name, p.name FROM orders o JOIN customers c ON c.id = o.customer_id "
    "JOIN products p ON p.id = o.product_id",
    "SELECT o.id, c.name, p.name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
    "LEFT JOIN products p ON p.id = o.product_id",
    "SELECT o.id, c.name, p.name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
    "RIGHT JOIN products p ON p.id = o.product_id",
    "SELECT o.id, c.name, p.name FROM orders o FULL JOIN customers c ON c.id = o.customer_id "
    "FULL JOIN products p ON p.id = o.product_id",
    "SELECT o.id, c.name, p.name FROM products p RIGHT JOIN orders o ON p.id = o.product_id "
    "LEFT JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id AND o.amount > 100",
    "SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id OR c.vip",
    "SELECT c.name, count(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.name",
    "SELECT c.region, sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id "
    "GROUP BY c.region ORDER BY 2 DESC",
    "SELECT a.id, b.id FROM orders a JOIN orders b ON a.customer_id = b.customer_id AND a.id < b.id",
    "SELECT a.id, b.id FROM orders a LEFT JOIN orders b ON b.id = a.id + 1",
    "SELECT a.id, b.id FROM orders a FULL JOIN orders b ON b.id = a.id + 30",
    "SELECT * FROM (orders o JOIN customers c ON c.id = o.customer_id)",
    "SELECT o.id, p.name FROM (orders o JOIN customers c ON c.id = o.customer_id) "
    "LEFT JOIN products p ON p.id = o.product_id",
    "SELECT o.id, p.name FROM products p LEFT JOIN (orders o JOIN customers c ON c.id = o.customer_id) "
    "ON p.id = o.product_id",
    "SELECT o.id, p.name FROM products p FULL JOIN (orders o LEFT JOIN customers c ON c.id = o.customer_id) "
    "ON p.id = o.product_id",
    "SELECT o.id, c.id FROM products p RIGHT JOIN (orders o FULL JOIN customers c ON c.id = o.customer_id) "
    "ON p.id = o.product_id",
    "SELECT * FROM ((orders o LEFT JOIN customers c ON c.id = o.customer_id) "
    "LEFT JOIN products p ON p.id = o.product_id)",
    "SELECT x.a, y.b FROM orders AS x(a) JOIN customers AS y(b) ON y.b = x.a",
    "SELECT x.a, y.b FROM orders AS x(a) FULL JOIN customers AS y(b) ON y.b = x.a",
    "SELECT public.orders.id, public.customers.name FROM public.orders "
    "LEFT JOIN public.customers ON public.customers.id = public.orders.customer_id",
    "SELECT orders.id, customers.name FROM orders JOIN customers ON customers.id = orders.customer_id",
    'SELECT m.id, o.id FROM "MixedCase" m LEFT JOIN orders o ON o.id = m.id',
    'SELECT m.id, o.id FROM "MixedCase" m FULL JOIN orders o ON o.id = m.id',
    "SELECT o.id FROM orders o JOIN products p ON p.id = o.product_id WHERE p.category = 'a' OR o.amount > 1",
    "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 2",
    "SELECT count(*) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.tenant_id = 2",
]

_CTES = [
    "WITH o AS (SELECT * FROM orders) SELECT * FROM o",
    "WITH o AS (SELECT * FROM orders WHERE amount > 100) SELECT count(*) FROM o",
    "WITH orders AS (SELECT * FROM orders WHERE amount > 100) SELECT * FROM orders",
    # A CTE and a table are told apart the way PostgreSQL folds names: "Orders" is not Orders (orders).
    'WITH "Orders" AS (SELECT 1 AS id) SELECT * FROM Orders',
    'WITH "Orders" AS (SELECT 1 AS id) SELECT * FROM "Orders"',
    "WITH Orders AS (SELECT 1 AS id) SELECT * FROM orders",
    'WITH orders AS (SELECT 1 AS id) SELECT * FROM "orders"',
    'SELECT x.id, "X".id FROM orders AS x JOIN customers AS "X" ON "X".id = x.customer_id',
    "WITH orders AS (SELECT id, amount FROM public.orders) SELECT * FROM orders",
    "WITH customers AS (SELECT 1 AS id, 'fake' AS name) SELECT * FROM customers",
    "WITH customers AS (SELECT 1 AS id) SELECT * FROM customers JOIN public.customers c ON c.id = "
    "customers.id",
    "WITH o AS (SELECT * FROM orders), c AS (SELECT * FROM customers) "
    "SELECT o.id, c.name FROM o LEFT JOIN c ON c.id = o.customer_id",
    "WITH o AS (SELECT * FROM orders), o2 AS (SELECT * FROM o WHERE amount > 10) SELECT count(*) FROM o2",
    "WITH t(a, b) AS (SELECT id, amount FROM orders) SELECT a, b FROM t",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) "
    "SELECT n.i, o.id FROM n LEFT JOIN orders o ON o.id = n.i",
    "WITH RECURSIVE chain(id, depth) AS (SELECT id, 1 FROM orders WHERE id < 5 "
    "UNION ALL SELECT o.id, chain.depth + 1 FROM chain JOIN orders o ON o.id = chain.id + 10 WHERE depth "
    "< 4) "
    "SELECT * FROM chain",
    "WITH RECURSIVE orders(id) AS (SELECT min(id) FROM public.orders "
    "UNION ALL SELECT id + 1 FROM orders WHERE id < 20) SELECT * FROM orders",
    "WITH x AS (SELECT customer_id FROM orders) SELECT * FROM customers WHERE id IN (SELECT customer_id "
    "FROM x)",
    "WITH x AS MATERIALIZED (SELECT * FROM orders) SELECT count(*) FROM x",
    "SELECT * FROM (WITH inner_cte AS (SELECT * FROM orders) SELECT id FROM inner_cte) s",
    "WITH c AS (SELECT * FROM customers) SELECT * FROM (SELECT * FROM c) s JOIN orders o ON "
    "o.customer_id = s.id",
    "WITH s AS (SELECT region, sum(amount) AS t FROM orders GROUP BY region) SELECT * FROM s WHERE t > 100",
]

_SET_OPERATIONS = [
    "SELECT id FROM orders UNION SELECT id FROM customers",
    "SELECT id FROM orders UNION ALL SELECT id FROM customers",
    "SELECT customer_id FROM orders INTERSECT SELECT id FROM customers",
    "SELECT id FROM customers EXCEPT SELECT customer_id FROM orders",
    "SELECT id FROM customers EXCEPT ALL SELECT customer_id FROM orders",
    "(SELECT id FROM orders ORDER BY id LIMIT 3) UNION (SELECT id FROM customers ORDER BY id LIMIT 3)",
    "SELECT region FROM orders UNION SELECT region FROM customers UNION SELECT category FROM products",
    "SELECT * FROM (SELECT id FROM orders UNION ALL SELECT id FROM customers) u WHERE id > 3",
    "WITH u AS (SELECT customer_id AS id FROM orders UNION SELECT id FROM customers) SELECT count(*) FROM u",
    'SELECT k FROM "MixedCase" UNION ALL SELECT tenant_id FROM orders',
]

_LATERAL = [
    "SELECT c.id, l.id FROM customers c, LATERAL (SELECT o.id FROM orders o WHERE o.customer_id = c.id) l",
    "SELECT c.id, l.n FROM customers c CROSS JOIN LATERAL "
    "(SELECT count(*) AS n FROM orders o WHERE o.customer_id = c.id) l",
    "SELECT c.id, l.id FROM customers c LEFT JOIN LATERAL "
    "(SELECT o.id FROM orders o WHERE o.customer_id = c.id ORDER BY o.id LIMIT 1) l ON TRUE",
    "SELECT c.id, l.id FROM customers c JOIN LATERAL (SELECT id FROM orders WHERE customer_id = c.id) l "
    "ON TRUE",
    "SELECT p.id, l.total FROM products p, LATERAL "
    "(SELECT sum(amount) AS total FROM orders WHERE product_id = p.id) l",
]

_SUBQUERIES = [
    "SELECT * FROM (SELECT * FROM orders) s",
    "SELECT * FROM (SELECT * FROM orders) AS s(a, b)",
    "SELECT s.id FROM (SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id) s",
    "SELECT * FROM (SELECT * FROM (SELECT * FROM orders) a) b",
    "SELECT id, (SELECT name FROM customers c WHERE c.id = o.customer_id) FROM orders o",
    "SELECT id, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) FROM customers c",
    "SELECT (SELECT max(amount) FROM orders), (SELECT count(*) FROM customers)",
    "SELECT id FROM customers WHERE id IN (SELECT customer_id FROM orders)",
    "SELECT id FROM customers WHERE id NOT IN (SELECT customer_id FROM orders WHERE customer_id IS NOT NULL)",
    "SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
    "SELECT id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
    "SELECT id FROM customers WHERE id = ANY (SELECT customer_id FROM orders)",
    "SELECT id FROM orders WHERE amount > ALL (SELECT price FROM products)",
    "SELECT id FROM orders WHERE amount >= ALL (SELECT amount FROM orders WHERE amount IS NOT NULL)",
    "SELECT id FROM orders WHERE amount < ANY (SELECT price FROM products)",
    "SELECT id FROM orders WHERE amount > (SELECT avg(amount) FROM orders)",
    "SELECT region FROM orders GROUP BY region HAVING count(*) > (SELECT count(*) FROM customers) / 10",
    "SELECT id FROM orders ORDER BY (SELECT count(*) FROM customers c WHERE c.id = orders.customer_id), id",
    "SELECT id FROM customers c WHERE c.id IN (SELECT o.customer_id FROM orders o "
    "WHERE o.product_id IN (SELECT id FROM products))",
    "SELECT id FROM customers WHERE (id, tenant_id) IN (SELECT customer_id, tenant_id FROM orders)",
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM orders) THEN 'yes' ELSE 'no' END",
    "SELECT id FROM orders o WHERE EXISTS (SELECT 1 FROM customers WHERE customers.id = o.customer_id "
    "AND EXISTS (SELECT 1 FROM products p WHERE p.id = o.product_id))",
    "SELECT id FROM customers WHERE EXISTS (SELECT 1 FROM orders WHERE orders.customer_id = customers.id)",
    "SELECT id FROM customers WHERE EXISTS (SELECT 1 FROM public.orders "
    "WHERE public.orders.customer_id = customers.id)",
    "SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE id = orders.customer_id)",
    "SELECT x.id FROM (SELECT id FROM orders UNION SELECT id FROM customers) AS x(id) "
    "WHERE x.id IN (SELECT id FROM products)",
    'SELECT id FROM "MixedCase" WHERE id IN (SELECT customer_id FROM orders)',
    "SELECT array_agg(id ORDER BY id) FROM orders",
    "SELECT c.id, (SELECT string_agg(o.id::text, ',' ORDER BY o.id) FROM orders o "
    "WHERE o.customer_id = c.id) FROM customers c",
    "SELECT sum(amount) OVER (PARTITION BY customer_id) FROM orders WHERE customer_id IN "
    "(SELECT id FROM customers)",
]

_DASHBOARD = [
    "SELECT c.region AS region, date_trunc('month', o.created_at) AS month, sum(o.amount) AS revenue, "
    "count(DISTINCT o.customer_id) AS buyers FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE o.status IN ('paid', 'shipped') GROUP BY 1, 2 ORDER BY 2, 1",
    "SELECT p.category, sum(o.amount) AS revenue FROM orders o LEFT JOIN products p ON p.id = o.product_id "
    "GROUP BY p.category",
    "SELECT status, count(*) AS n, round(avg(amount), 2) AS avg_amount FROM orders GROUP BY status",
    "SELECT c.name, sum(o.amount) AS total FROM customers c JOIN orders o ON o.customer_id = c.id "
    "GROUP BY c.name ORDER BY total DESC, c.name LIMIT 5",
    "SELECT created_at, sum(amount) OVER (ORDER BY created_at, id) AS running FROM orders",
    "SELECT region, status, count(*) FROM orders GROUP BY ROLLUP (region, status)",
    "SELECT region, status, count(*) FROM orders GROUP BY CUBE (region, status)",
    "SELECT region, count(*) FROM orders GROUP BY GROUPING SETS ((region), ())",
    "SELECT count(*) FROM orders WHERE created_at >= DATE '2024-06-01'",
    "SELECT vip, count(*) FROM customers GROUP BY vip",
    "SELECT o.region, count(*) FROM orders o WHERE o.amount > 10 AND (o.region = 'EU' OR o.region = 'US') "
    "GROUP BY o.region",
    "SELECT * FROM (SELECT region, sum(amount) AS total, rank() OVER (ORDER BY sum(amount) DESC) AS r "
    "FROM orders GROUP BY region) ranked WHERE r <= 2",
    "SELECT count(*) FROM orders o WHERE o.customer_id IN (SELECT id FROM customers WHERE vip)",
    "SELECT p.name, coalesce(s.total, 0) FROM products p LEFT JOIN "
    "(SELECT product_id, sum(amount) AS total FROM orders GROUP BY product_id) s ON s.product_id = p.id",
    'SELECT m.label, count(o.id) FROM "MixedCase" m LEFT JOIN orders o ON o.tenant_id = m.k GROUP BY m.label',
]

ACCEPTED: tuple[str, ...] = tuple(
    _SIMPLE + _JOINS + _CTES + _SET_OPERATIONS + _LATERAL + _SUBQUERIES + _DASHBOARD
)

REFUSED: dict[str, str] = {
    "INSERT INTO orders (id) VALUES (1000)": "statement_not_select",
    "UPDATE orders SET amount = 0": "statement_not_select",
    "DELETE FROM orders": "statement_not_select",
    "MERGE INTO orders o USING customers c ON o.id = c.id WHEN MATCHED THEN DELETE": "statement_not_select",
    "TRUNCATE orders": "statement_not_select",
    "DROP TABLE orders": "statement_not_select",
    "CREATE TABLE stolen AS SELECT * FROM orders": "statement_not_select",
    "ALTER TABLE orders DISABLE ROW LEVEL SECURITY": "statement_not_select",
    "GRANT SELECT ON orders TO PUBLIC": "statement_not_select",
    "SELECT * INTO stolen FROM orders": "select_into",
    "COPY orders TO STDOUT": "statement_not_select",
    "COPY (SELECT * FROM orders) TO '/tmp/orders.csv'": "statement_not_select",
    "EXPLAIN SELECT * FROM orders": "statement_not_select",
    "EXPLAIN ANALYZE SELECT * FROM orders": "statement_not_select",
    "SET row_security = off": "statement_not_select",
    "SET ROLE postgres": "statement_not_select",
    "RESET ROLE": "statement_not_select",
    "SHOW search_path": "statement_not_select",
    "SELECT * FROM orders FOR UPDATE": "locking_clause",
    "SELECT * FROM orders FOR SHARE": "locking_clause",
    "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d": "statement_not_select",
    "WITH u AS (UPDATE orders SET amount = 0 RETURNING *) SELECT count(*) FROM u": "statement_not_select",
    "WITH i AS (INSERT INTO orders (id) VALUES (999) RETURNING id) SELECT * FROM i": "statement_not_select",
    "SELECT * FROM orders; SELECT * FROM secrets": "multiple_statements",
    "SELECT 1; DROP TABLE orders": "multiple_statements",
    "SELECT * FROM secrets": "table_forbidden",
    "SELECT o.id FROM orders o JOIN secrets s ON s.id = o.id": "table_forbidden",
    "SELECT id FROM orders WHERE id IN (SELECT id FROM secrets)": "table_forbidden",
    "WITH s AS (SELECT * FROM secrets) SELECT * FROM s": "table_forbidden",
    "SELECT * FROM orders UNION ALL SELECT id, null, null, null, null, data, null, null FROM secrets": (
        "table_forbidden"
    ),
    'SELECT * FROM "Orders"': "table_forbidden",
    'SELECT * FROM "ORDERS"': "table_forbidden",
    "SELECT * FROM mixedcase": "table_forbidden",
    "SELECT * FROM other_schema.orders": "table_forbidden",
    "SELECT * FROM test.public.orders": "table_forbidden",
    "SELECT * FROM pg_catalog.pg_user": "table_forbidden",
    "SELECT * FROM pg_user": "table_forbidden",
    "SELECT * FROM pg_shadow": "table_forbidden",
    "SELECT * FROM pg_authid": "table_forbidden",
    "SELECT * FROM pg_policies": "table_forbidden",
    "SELECT * FROM pg_settings": "table_forbidden",
    "SELECT * FROM pg_stat_activity": "table_forbidden",
    "SELECT * FROM information_schema.tables": "table_forbidden",
    "SELECT * FROM information_schema.columns": "table_forbidden",
    "SELECT * FROM generate_series(1, 3)": "table_function",
    "SELECT * FROM orders, LATERAL generate_series(1, orders.id) g": "table_function",
    "SELECT * FROM unnest(ARRAY[1, 2])": "table_function",
    "SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a INT)": "table_function",
    "SELECT * FROM pg_ls_dir('.')": "table_function",
    "SELECT * FROM json_to_recordset('[]') AS t(a INT)": "table_function",
    "SELECT set_config('row_security', 'off', false)": "function_forbidden",
    "SELECT id FROM orders WHERE set_config('role', 'postgres', true) IS NOT NULL": "function_forbidden",
    "SELECT pg_read_file('/etc/passwd')": "function_forbidden",
    "SELECT pg_read_binary_file('/etc/passwd')": "function_forbidden",
    "SELECT lo_import('/etc/passwd')": "function_forbidden",
    "SELECT lo_export(1, '/tmp/x')": "function_forbidden",
    "SELECT dblink_exec('host=evil', 'DROP TABLE orders')": "function_forbidden",
    "SELECT pg_sleep(10)": "function_forbidden",
    "SELECT id FROM orders WHERE pg_sleep(1) IS NULL": "function_forbidden",
    "SELECT version()": "function_forbidden",
    "SELECT current_user": "function_forbidden",
    "SELECT session_user": "function_forbidden",
    "SELECT current_setting('data_directory')": "function_forbidden",
    "SELECT current_database()": "function_forbidden",
    "SELECT inet_server_addr()": "function_forbidden",
    "SELECT pg_backend_pid()": "function_forbidden",
    "SELECT txid_current()": "function_forbidden",
    "SELECT nextval('orders_seq')": "function_forbidden",
    "SELECT pg_terminate_backend(1)": "function_forbidden",
    "SELECT query_to_xml('SELECT * FROM secrets', true, true, '')": "function_forbidden",
    "SELECT pg_catalog.pg_read_file('/etc/passwd')": "function_forbidden",
    "SELECT public.some_function(id) FROM orders": "function_forbidden",
    "SELECT 'secrets'::regclass": "type_forbidden",
    "SELECT 'postgres'::regrole": "type_forbidden",
    "SELECT 'x'::oid": "type_forbidden",
    "SELECT to_regclass('pg_authid')": "function_forbidden",
    "SELECT has_table_privilege('secrets', 'select')": "function_forbidden",
    "SELECT row_to_json(s) FROM orders s": "function_forbidden",
    "SELECT * FROM ROWS FROM (generate_series(1, 2))": "table_function",
    "SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x INT)": "table_function",
    "SELECT * FROM orders WHERE id IN (TABLE secrets)": "table_forbidden",
    "SELECT ARRAY(SELECT data FROM secrets)": "table_forbidden",
    "SELECT * FROM orders JOIN LATERAL (SELECT * FROM secrets) s ON TRUE": "table_forbidden",
    "SELECT * FROM orders, (customers JOIN secrets ON TRUE)": "table_forbidden",
    "SELECT * FROM orders, orders.items": "table_forbidden",
    "SELECT o.id FROM orders o WHERE o.id = (SELECT id FROM orders WHERE id = o.id FOR UPDATE)": (
        "locking_clause"
    ),
    "SELECT * FROM orders WHERE id = $1": "parameter",
    "SELECT * FROM orders TABLESAMPLE SYSTEM (50)": "table_modifier",
    "SELECT * FROM orders o JOIN public.orders ON TRUE JOIN other.orders ON TRUE": "duplicate_alias",
    "SELECT public.orders.id FROM orders AS o": "column_reference",
    # Valid PostgreSQL that sqlglot's scopes do not traverse: refused rather than guessed at.
    "SELECT j.id FROM (orders o JOIN customers c ON c.id = o.customer_id) AS j(id)": "table_unscoped",
    "SELEC * FROM orders": "sql_syntax",
    "": "multiple_statements",
}
"""Query -> the error code the rewriter must refuse it with, whatever the catalog's filters."""
