"""The schema fingerprint's normaliser and object diff, without a database."""

from harness.results.fingerprint import difference, objects, statements

DUMP = r"""--
-- PostgreSQL database dump
--

\restrict 3kF9aQ

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SELECT pg_catalog.set_config('search_path', '', false);

CREATE TABLE public.orders (
    id bigint NOT NULL,
    item text NOT NULL,
    customer text DEFAULT ''::text NOT NULL,
    note text DEFAULT 'a; b'::text
);

CREATE FUNCTION public.touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ begin new.note := 'x;y'; return new; end; $$;

CREATE INDEX jobs_pending ON public.jobs USING btree (id) WHERE (status = 'pending'::text);

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);

\unrestrict 3kF9aQ
"""


def test_comments_settings_and_restrict_keys_are_not_the_schema():
    other = DUMP.replace("3kF9aQ", "Zz81").replace("-- PostgreSQL database dump", "-- dumped again")
    other = other.replace("SET client_encoding = 'UTF8';\n", "")
    assert statements(other) == statements(DUMP)
    assert not any(s.startswith(("SET", "SELECT pg_catalog", "\\")) for s in statements(DUMP))


def test_whitespace_does_not_count():
    other = DUMP.replace("    item text NOT NULL,", "  item   text\tNOT NULL ,").replace(
        "ALTER TABLE ONLY public.orders\n    ADD", "ALTER TABLE ONLY public.orders ADD")
    assert statements(other) == statements(DUMP)


def test_statement_and_column_order_do_not_count():
    # A column dropped and added back comes back last; statements come in any order.
    customer = "    customer text DEFAULT ''::text NOT NULL"
    moved = DUMP.replace(customer + ",\n", "").replace(
        "    note text DEFAULT 'a; b'::text\n", "    note text DEFAULT 'a; b'::text,\n" + customer + "\n")
    index = "CREATE INDEX jobs_pending ON public.jobs USING btree (id) WHERE (status = 'pending'::text);\n"
    moved = index + moved.replace(index, "")
    assert statements(moved) == statements(DUMP)


def test_semicolons_in_quotes_and_dollar_bodies_do_not_split_statements():
    found = statements(DUMP)
    assert sum(s.startswith("CREATE FUNCTION") for s in found) == 1
    assert any("'x;y'" in s for s in found) and any("'a; b'" in s for s in found)


def test_objects_are_named_by_kind():
    names = set(objects(statements(DUMP)))
    assert {"table orders", "column orders.customer", "column orders.note", "function touch",
            "index jobs_pending", "constraint orders.orders_pkey"} <= names


def test_difference_names_what_was_left_behind_changed_and_gone():
    after = DUMP.replace("    note text DEFAULT 'a; b'::text\n", "    note text\n") + (
        "CREATE TYPE public.order_status AS ENUM ('new', 'paid');\n")
    after = after.replace("CREATE INDEX jobs_pending ON public.jobs USING btree (id) "
                          "WHERE (status = 'pending'::text);\n", "")
    leftover, missing = difference(statements(DUMP), statements(after))
    assert leftover == ["column orders.note (changed)", "type order_status"]
    assert missing == ["index jobs_pending"]
    assert difference(statements(DUMP), statements(DUMP)) == ([], [])


def test_a_check_that_could_not_compare_is_neither_clean_nor_a_leftover():
    from harness.results.measure import round_trip_gaps, schema_checks
    from harness.results.model import SchemaCheck

    events = [{"ts": 10.0, "event": "schema_fingerprinted", "when": "before", "statements": statements(DUMP)},
              {"ts": 20.0, "event": "schema_fingerprinted", "when": "after db rollback", "statements": None,
               "detail": "pg_dump: connection refused", "rollback_ts": 19.0}]
    [check] = schema_checks(events, 10.0)
    assert check.clean is None and check.after_s == 9.0 and "connection refused" in (check.note or "")
    assert round_trip_gaps([check]) == []
    assert SchemaCheck.from_json(check.to_json(), "c") == check
    left = SchemaCheck(9.0, ("type order_status",), ())
    assert left.clean is False and [g.name for g in round_trip_gaps([left])] == ["schema_round_trip"]
