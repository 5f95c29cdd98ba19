"""What rethinkdb-mock 0.10.1 is taught so that it answers as RethinkDB 2.4 does.

The store's queries are the real server's; where the mock falls short it is
taught the server's behaviour here (``teach_mock``), never in the store. Each
fix names the quirk it covers:

1. Variables bound to null raise "symbol not defined" (Scope.get_sym treats a None
   value as missing), so ``replace`` functions cannot see a missing row.
2. ``r.minval``/``r.maxval`` have no rewrite handler at all.
3. ``between`` on an index made from a function calls the function wrongly (no scope).
4. ``order_by(index=...)`` sorts by a *field* named like the index, and
   ``index=r.desc(...)`` fails while the query is rewritten.
5. ``get(id).replace(function)`` passes the database, not the row, to the function,
   and can neither insert a missing row nor delete one.
6. Inserts that hit an existing key report ``errors`` without ``first_error``.
7. Creating a database, table or index that exists silently replaces it (empty)
   instead of failing with "already exists".
8. Queries are not atomic: each computes on a snapshot and then stores its result,
   so concurrent writers lose each other's writes. ``MockServer`` runs one query at
   a time, which is at least as strong as the server's per-document atomicity.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import rethinkdb.ast as r_ast
from rethinkdb.errors import ReqlOpFailedError
from rethinkdb.query import RqlConstant
from rethinkdb_mock import ast as mt_ast
from rethinkdb_mock import db as mt_db
from rethinkdb_mock import rql_rewrite
from rethinkdb_mock.ast_base import RBase, RDatum, RFunc
from rethinkdb_mock.scope import NotInScopeErr, Scope


@functools.total_ordering
class _Extreme:
    """r.minval / r.maxval: below / above every other value (quirk 2)."""

    def __init__(self, name: str, below_all: bool) -> None:
        self.name, self.below_all = name, below_all

    def __eq__(self, other: object) -> bool:
        return other is self

    def __lt__(self, other: object) -> bool:
        return self.below_all and other is not self

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"r.{self.name}"


MINVAL, MAXVAL = _Extreme("minval", True), _Extreme("maxval", False)


def _get_sym(self: Scope, name: str) -> Any:
    """Quirk 1: a variable may hold null."""
    scope: Scope | None = self
    while scope is not None:
        if name in scope.values:
            return scope.values[name]
        scope = getattr(scope, "parent", None)
    raise NotInScopeErr(f"symbol not defined: {name}")


def _rewrite_constant(node: RqlConstant) -> RDatum:
    """Quirk 2."""
    extremes = {"minval": MINVAL, "maxval": MAXVAL}
    if node.statement not in extremes:
        raise NotImplementedError(f"rethinkdb-mock has no r.{node.statement}")
    return RDatum(extremes[node.statement])


def _index_key(node: RBase, index: str, db: Any) -> Callable[[dict[str, Any]], Any]:
    """What ``index`` maps a row to (quirk 3: index functions need a scope)."""
    if index == "id":
        return lambda row: row["id"]
    func, _multi = node.find_index_func_for_scope(index, db)
    if isinstance(func, RFunc):
        return lambda row: func.run([row], Scope({}))
    return lambda row: func(row)  # made by index_create(field): util.getter(field)


def _between(
    self: mt_ast.Between, table: Any, lower: Any, upper: Any, arg: Any, scope: Scope
) -> list[dict[str, Any]]:
    """Quirk 3, and r.minval/r.maxval inside compound keys (quirk 2)."""
    options = {"left_bound": "closed", "right_bound": "open", "index": "id", **self.optargs}
    key = _index_key(self, options["index"], arg)
    closed_left, closed_right = (
        options["left_bound"] == "closed",
        options["right_bound"] == "closed",
    )

    def inside(value: Any) -> bool:
        above = value >= lower if closed_left else value > lower
        below = value <= upper if closed_right else value < upper
        return bool(above and below)

    return [row for row in table if inside(key(row))]


class _OrderByIndex(RBase):  # type: ignore[misc]  # the mock is untyped
    """Quirk 4: order a selection by an index, equal keys in primary-key order (as the
    server does: it appends the primary key to each secondary index key)."""

    def __init__(self, left: RBase, index: str, descending: bool) -> None:
        self.left, self.index, self.descending = left, index, descending

    def run(self, arg: Any, scope: Scope) -> list[dict[str, Any]]:
        self.set_mock_ref(self.left)
        rows = list(self.left.run(arg, scope))
        key = _index_key(self, self.index, arg)
        return sorted(rows, key=lambda row: (key(row), row["id"]), reverse=self.descending)


_original_order_by = rql_rewrite.RQL_TYPE_HANDLERS[r_ast.OrderBy]


def _rewrite_order_by(node: r_ast.OrderBy) -> RBase:
    index = node.optargs.get("index")
    if index is None or len(node._args) > 1:
        return _original_order_by(node)
    if isinstance(index, (r_ast.Asc, r_ast.Desc)):
        return _OrderByIndex(
            rql_rewrite.type_dispatch(node._args[0]),
            index._args[0].data,
            isinstance(index, r_ast.Desc),
        )
    return _OrderByIndex(rql_rewrite.type_dispatch(node._args[0]), index.data, False)


_original_replace_run = mt_ast.Replace.run


def _replace_run(self: mt_ast.Replace, arg: Any, scope: Scope) -> Any:
    """Quirk 5: ``get(id).replace(...)`` as the server does it, in one step."""
    if not isinstance(self.left, mt_ast.Get):
        return _original_replace_run(self, arg, scope)
    self.set_mock_ref(self.left)
    self.set_mock_ref(self.right)
    old = self.left.run(arg, scope)
    new = (
        self.right.run([old], scope)
        if isinstance(self.right, RFunc)
        else self.right.run(arg, scope)
    )
    db, table = self.find_db_scope(), self.find_table_scope()
    counts = ("inserted", "deleted", "replaced", "unchanged", "skipped", "errors")
    report: dict[str, Any] = dict.fromkeys(counts, 0)
    data = arg
    if old is None and new is None:
        report["skipped"] = 1
    elif old is None:
        data, _ = arg.insert_into_table_in_db(db, table, [new], "error")
        report["inserted"] = 1
    elif new is None:
        data, _ = arg.remove_by_id_in_table_in_db(db, table, [old])
        report["deleted"] = 1
    elif new == old:
        report["unchanged"] = 1
    elif new.get("id") != old["id"]:
        report["errors"] = 1
        report["first_error"] = "Primary key `id` cannot be changed."
        new = old
    else:
        data, _ = arg.update_by_id_in_table_in_db(db, table, [new])
        report["replaced"] = 1
    mode = self.optargs.get("return_changes", False)
    if mode == "always" or (mode and new != old):
        report["changes"] = [{"old_val": old, "new_val": new}]
    return data, report


_original_insert = mt_db.insert_into_table_with_conflict_setting


def _insert(existing: Any, to_insert: Any, conflict: str) -> Any:
    """Quirk 6."""
    result, report = _original_insert(existing, to_insert, conflict)
    if report.get("errors"):
        report["first_error"] = "Duplicate primary key `id`"
    return result, report


def _refuse_existing(kind: str, existing: Callable[..., str | None]) -> Callable[..., Any]:
    """Quirk 7: wrap a create so that it fails, like the server, when the thing exists.

    ``existing`` takes the create's own arguments and names what exists, if anything.
    """

    def wrap(create: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(create)
        def checked(self: RBase, *args: Any) -> Any:
            name = existing(self, *args)
            if name is not None:
                raise ReqlOpFailedError(f"{kind} `{name}` already exists.")
            return create(self, *args)

        return checked

    return wrap


def _existing_db(self: RBase, db_name: str, arg: Any, scope: Scope) -> str | None:
    return db_name if db_name in arg.list_dbs() else None


def _existing_table(self: RBase, left: Any, table: str, arg: Any, scope: Scope) -> str | None:
    return table if table in arg.list_tables_in_db(self.find_db_scope()) else None


def _existing_index(self: RBase, name: str, arg: Any) -> str | None:
    found = arg.index_exists_in_table_in_db(self.find_db_scope(), self.find_table_scope(), name)
    return name if found else None


def _existing_field_index(
    self: RBase, sequence: Any, field: str, arg: Any, scope: Scope
) -> str | None:
    return _existing_index(self, field, arg)


def _existing_func_index(self: mt_ast.IndexCreateByFunc, arg: Any, scope: Scope) -> str | None:
    return _existing_index(self, self.middle.run(arg, scope), arg)


_taught = False
_teaching = threading.Lock()


def teach_mock() -> None:
    """Apply the fixes listed in this module's docstring, once per process."""
    global _taught
    with _teaching:
        if _taught:
            return
        Scope.get_sym = _get_sym
        rql_rewrite.RQL_TYPE_HANDLERS[RqlConstant] = _rewrite_constant
        rql_rewrite.RQL_TYPE_HANDLERS[r_ast.OrderBy] = _rewrite_order_by
        mt_ast.Between.do_run = _between
        mt_ast.Replace.run = _replace_run
        mt_db.insert_into_table_with_conflict_setting = _insert
        mt_ast.DbCreate.do_run = _refuse_existing("Database", _existing_db)(mt_ast.DbCreate.do_run)
        mt_ast.TableCreate.do_run = _refuse_existing("Table", _existing_table)(
            mt_ast.TableCreate.do_run
        )
        mt_ast.IndexCreateByField.do_run = _refuse_existing("Index", _existing_field_index)(
            mt_ast.IndexCreateByField.do_run
        )
        mt_ast.IndexCreateByFunc.run = _refuse_existing("Index", _existing_func_index)(
            mt_ast.IndexCreateByFunc.run
        )
        _taught = True
