"""Setting up (and repairing) the RethinkDB database, safe with any number of parts at once.

RethinkDB 2.4 checks a new table's name and then creates it, with a wait in between,
so clients that create the same table at once get one table each, and every later
query on the name fails ("Table `db.footage` is ambiguous"). Table ids cannot help:
``table_create`` takes none, and ``rethinkdb.table_config`` refuses inserts that name
their own id. A database name, though, is checked and claimed in one step on a
server (``db_create`` reads and joins the cluster metadata without yielding), so:

- **One set-up at a time.** A part that finds the schema incomplete claims the lock
  by creating the database ``<db>_setup_lock``; only the part whose ``db_create``
  succeeded creates what is missing, each step idempotent, and drops the lock when
  done. Everyone else polls until the schema is complete.
- **A part dying mid set-up.** Its lock stays behind, but it is dropped (by its id,
  never a successor's) by whoever has watched it for ``LOCK_STALE`` seconds, and set-up
  resumes from what exists. A holder checks before every step that its lock still
  exists, so a holder that was only slow stops instead of racing its successor.
- **Duplicates made before this protocol** (or by hand) are refused with a message
  that names ``spectare store repair``, which merges them under the same lock.

In a cluster of several servers two servers can, rarely, both claim the lock before
they hear of each other; the step check then stops one within a step, and any
duplicate that still results is refused and repaired as above.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rethinkdb import r

from spectare.logs import get_logger
from spectare.store.base import StoreError
from spectare.store.rethink_conn import Runner
from spectare.store.rethink_query import (
    PENDING,
    Term,
    events_by_camera_start,
    footage_by_camera_start,
)

log = get_logger(__name__)

TABLES = ("cameras", "footage", "events")
#: Secondary indexes per table: (name, function), None indexing the field of that name.
INDEXES: dict[str, tuple[tuple[str, Callable[[Term], Term] | None], ...]] = {
    "footage": (("camera_start", footage_by_camera_start), (PENDING, None)),
    "events": (
        ("camera_start", events_by_camera_start),
        ("start", None),
        ("footage_id", None),
    ),
}
LOCK_SUFFIX = "_setup_lock"
#: Seconds a set-up lock may stand unchanged before it is taken for a dead part's.
LOCK_STALE = 120.0
#: Seconds set-up waits in all (for another part's set-up, and for tables to be ready).
SETUP_TIMEOUT = 600.0
#: Seconds a table or index creation may take (the server waits for the new table).
CREATE_SECONDS = 90.0
#: Seconds ``setup`` waits for tables to accept writes and indexes to be built.
READY_SECONDS = 300.0
#: Longest pause between two looks at another part's set-up.
POLL_MAX = 1.0

REPAIR_HINT = "run `spectare store repair` with SPECTARE_STORE naming this store"


@dataclass
class Layout:
    """What a database holds, as far as set-up cares."""

    databases: int = 0
    tables: Counter[str] = field(default_factory=Counter)
    indexes: dict[str, set[str]] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """What set-up would create, e.g. ``table footage``, ``index footage.pending``."""
        out = [] if self.databases else ["database"]
        out += [f"table {t}" for t in TABLES if not self.tables[t]]
        for table, indexes in INDEXES.items():
            if self.tables[table] == 1:
                present = self.indexes.get(table, set())
                out += [f"index {table}.{name}" for name, _ in indexes if name not in present]
        return out

    def duplicates(self) -> list[str]:
        """Names held more than once, e.g. ``2 tables named footage``."""
        out = [f"{self.databases} databases of that name"] if self.databases > 1 else []
        out += [f"{n} tables named {t}" for t, n in sorted(self.tables.items()) if n > 1]
        return out


class Schema:
    """Creates, checks and repairs one database's tables and indexes."""

    def __init__(self, runner: Runner, db: str) -> None:
        self.runner = runner
        self.db = db
        self.lock = f"{db}{LOCK_SUFFIX}"
        self._lock_id: str | None = None  # the lock database this part created, if any
        self._holder = uuid.uuid4().hex[:12]
        #: Whether the server has its system database (a real server always lists it;
        #: the test mock has none, and there locks are handled by name).
        self._system_db = False

    # -- looking --------------------------------------------------------------------------

    def inspect(self) -> Layout:
        """The database as it is now (a few cheap reads, nothing written)."""
        run = self.runner.run
        names = list(run(r.db_list()))
        self._system_db = "rethinkdb" in names
        # db_list and table_list show a duplicated name once: only the system tables
        # tell how many there are. (The test mock has none, and no duplicates either.)
        layout = Layout(databases=names.count(self.db))
        if self._system_db:
            layout.databases = run(self._config("db_config", {"name": self.db}).count())
        if layout.databases != 1:
            return layout
        if self._system_db:
            rows = run(self._config("table_config", {"db": self.db}).pluck("name"))
            layout.tables = Counter(row["name"] for row in rows)
        else:
            layout.tables = Counter(run(r.db(self.db).table_list()))
        for table in INDEXES:
            if layout.tables[table] == 1:
                layout.indexes[table] = set(run(r.db(self.db).table(table).index_list()))
        return layout

    def check(self, layout: Layout) -> None:
        """StoreError, naming the repair, when ``layout`` holds a name more than once."""
        duplicates = layout.duplicates()
        if duplicates:
            raise StoreError(
                f"RethinkDB database {self.db} holds {', '.join(duplicates)}, so every query "
                f"on them fails (they were created by parts that set it up at the same time): "
                f"{REPAIR_HINT}"
            )

    # -- set-up ---------------------------------------------------------------------------

    def setup(self) -> None:
        """Make the schema complete (or wait for the part that does), then wait until
        every table accepts writes and every index is built."""
        deadline = time.monotonic() + SETUP_TIMEOUT
        self.under_lock(
            deadline, lambda layout: self._create(), need=lambda found: bool(found.missing())
        )
        self._wait_ready(deadline)

    def under_lock(
        self,
        deadline: float,
        work: Callable[[Layout], None],
        need: Callable[[Layout], bool],
        repairing: bool = False,
    ) -> None:
        """Run ``work`` holding the set-up lock, as long as ``need(layout)`` says there is
        something to do; return when there is nothing (left) to do."""
        seen: dict[str, float] = {}
        pause = 0.05
        while True:
            layout = self.inspect()
            if not repairing:
                self.check(layout)
            if not need(layout):
                return
            if self._claim():
                try:
                    work(self.inspect())
                except BaseException:
                    # Release if the server lets us; otherwise the lock goes stale and
                    # is taken over. Either way the original failure is what counts.
                    with contextlib.suppress(StoreError):
                        self._release()
                    raise
                self._release()
                continue
            if time.monotonic() > deadline:
                raise StoreError(
                    f"set-up of RethinkDB database {self.db} did not finish: another part "
                    f"holds the set-up lock (database {self.lock}); it is taken over "
                    f"{LOCK_STALE:g} s after its holder stops"
                )
            self._break_stale(seen)
            time.sleep(pause)  # another part is setting up; look again soon
            pause = min(pause * 2, POLL_MAX)

    def _create(self) -> None:
        """Create what is missing; called with the lock held, each step checked first."""
        layout = self.inspect()
        self.check(layout)
        run = self.runner.run
        if not layout.databases:
            self._step()
            run(r.db_create(self.db), exists_ok=True)
        for table in TABLES:
            if not layout.tables[table]:
                self._step()
                run(r.db(self.db).table_create(table), exists_ok=True, seconds=CREATE_SECONDS)
                log.info("store.table_created", db=self.db, table=table)
        for table, indexes in INDEXES.items():
            present = set(run(r.db(self.db).table(table).index_list()))
            for name, function in indexes:
                if name not in present:
                    self._step()
                    args = (name,) if function is None else (name, function)
                    run(r.db(self.db).table(table).index_create(*args), exists_ok=True,
                        seconds=CREATE_SECONDS)  # fmt: skip
                    log.info("store.index_created", db=self.db, table=table, index=name)

    def _wait_ready(self, deadline: float) -> None:
        # Outside the lock: readiness and index builds take long and race with nobody.
        seconds = max(1.0, deadline - time.monotonic())
        self.runner.run(
            r.db(self.db).wait(
                wait_for="ready_for_writes", timeout=int(min(seconds, READY_SECONDS))
            ),
            seconds=seconds,
        )
        for table in INDEXES:
            self.runner.run(r.db(self.db).table(table).index_wait(), seconds=seconds)

    # -- the lock -------------------------------------------------------------------------

    def _claim(self) -> bool:
        """Create the lock database; True when this part did (and so holds the lock)."""
        try:
            result = self.runner.run(r.db_create(self.lock), repeatable=False)
        except StoreError as exc:
            if "already exists" in str(exc):
                return False
            raise
        changes = (result or {}).get("config_changes") or [{}]
        if self._system_db:
            self._lock_id = (changes[0].get("new_val") or {}).get("id")
        log.info("store.setup_lock_taken", db=self.db, holder=self._holder, lock=self._lock_id)
        return True

    def _step(self) -> None:
        """Stop unless this part still holds the lock (it may have been taken for stale)."""
        if self._lock_id is not None:
            held = self._system("db_config", lambda t: t.get(self._lock_id)) is not None
        else:
            held = self.lock in self.runner.run(r.db_list())
        if not held:
            raise StoreError(
                f"lost the set-up lock of RethinkDB database {self.db} (taken over as stale)"
            )

    def _release(self) -> None:
        if self._lock_id is not None:
            self._system("db_config", lambda t: t.get(self._lock_id).delete())
        else:
            self.runner.run(r.db_drop(self.lock))
        log.info("store.setup_lock_released", db=self.db, holder=self._holder)
        self._lock_id = None

    def _break_stale(self, seen: dict[str, float]) -> None:
        """Drop a lock that has stood unchanged for LOCK_STALE seconds, by its id."""
        if not self._system_db:
            return  # the test mock: no system tables, and no part dies there
        ids = self._system(
            "db_config", lambda t: t.filter({"name": self.lock})["id"].coerce_to("array")
        )
        now = time.monotonic()
        for lock_id in ids:
            if now - seen.setdefault(lock_id, now) > LOCK_STALE:
                log.warning("store.setup_lock_stale", db=self.db, lock=lock_id,
                            hint="its holder stopped during set-up; taking over")  # fmt: skip
                self._drop_lock(lock_id)

    def _drop_lock(self, lock_id: str) -> None:
        self._system("db_config", lambda t: t.get(lock_id).delete())

    @staticmethod
    def _config(table: str, where: dict[str, str]) -> Term:
        """Rows of a system configuration table (``rethinkdb.<table>``) matching ``where``."""
        return r.db("rethinkdb").table(table).filter(where)

    def _system(self, table: str, query: Callable[[Term], Term]) -> Any:
        """A query on one of the server's system tables (``rethinkdb.<table>``)."""
        return self.runner.run(query(r.db("rethinkdb").table(table)))

    # -- repair ---------------------------------------------------------------------------

    def repair(self) -> list[str]:
        """Merge tables that exist more than once into one, create what is missing;
        what was done, one line per change. Runs under the set-up lock."""
        done: list[str] = []
        layout = self.inspect()
        if layout.databases > 1:
            raise StoreError(
                f"there are {layout.databases} RethinkDB databases named {self.db}: rename "
                "all but one in rethinkdb.db_config (by id), then run the repair again"
            )

        def work(layout: Layout) -> None:
            for table, copies in sorted(layout.tables.items()):
                if copies > 1:
                    done.extend(self._merge(table))
            self._create()

        self.under_lock(
            time.monotonic() + SETUP_TIMEOUT,
            work,
            need=lambda found: bool(found.duplicates() or found.missing()),
            repairing=True,
        )
        self._wait_ready(time.monotonic() + SETUP_TIMEOUT)
        return done

    def _merge(self, table: str) -> list[str]:
        """Keep the copy of ``table`` with the most rows, copy the others' rows into it
        (its own rows win on equal ids), drop the others."""
        self._step()
        copies = sorted(
            self._system(
                "table_config",
                lambda t: t.filter({"db": self.db, "name": table})["id"].coerce_to("array"),
            )
        )
        # Copies are renamed apart first: only a unique name can be queried.
        names = {cid: f"{table}_dup_{cid.replace('-', '')[:12]}" for cid in copies}
        for cid, name in names.items():
            self._rename(cid, name)
        rows = {
            cid: int(self.runner.run(r.db(self.db).table(names[cid]).count())) for cid in copies
        }
        keep = max(copies, key=lambda cid: (rows[cid], [-ord(ch) for ch in cid]))
        lines = []
        for cid in copies:
            if cid == keep:
                continue
            self._step()
            source = r.db(self.db).table(names[cid])
            self.runner.run(
                r.db(self.db).table(names[keep]).insert(source, conflict=lambda _id, old, new: old),
                repeatable=True,  # the keeper's rows win, so a repeat changes nothing
                seconds=CREATE_SECONDS,
            )
            self._drop_table(cid)
            lines.append(f"merged {rows[cid]} rows of a duplicate {table} ({cid}) into {keep}")
        self._rename(keep, table)
        log.info("store.repaired", db=self.db, table=table, kept=keep, dropped=len(copies) - 1)
        return lines

    def _rename(self, table_id: str, name: str) -> None:
        self._system("table_config", lambda t: t.get(table_id).update({"name": name}))

    def _drop_table(self, table_id: str) -> None:
        self._system("table_config", lambda t: t.get(table_id).delete())
