"""A throwaway PostgreSQL server for tests and benchmarks, and DuckDB opened on DuckLake with no downloads.

The server is Debian's `postgresql` package (binaries under /usr/lib/postgresql/<version>/bin; `make postgres`,
part of `make test`, installs it). `start_server(folder)` initdb's a cluster in `folder`, starts it on a Unix
socket in that folder and on a free loopback port, trust authentication, no fsync; `PgServer.stop()` ends it.
`initdb` refuses to run as root (CI runs as root), so as root the cluster belongs to the `postgres` user and
every server command runs through `runuser -u postgres --`.

The DuckDB side loads the `ducklake` and `postgres` extensions from the files the duckdb-ext-* wheels put in
site-packages, with automatic install and load of extensions switched off, so nothing is downloaded.

`bench/scale.py` imports this module too (`from tests.pg_kit import ...`); it depends on nothing of lastmile.
"""

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"  # the system user Debian's package creates; owns the cluster when we run as root
MISSING = "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: `make test` installs postgresql"
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes, the terminating NUL included
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
SERVER_SETTINGS = {
    "fsync": "off",  # a throwaway cluster: durability across a machine crash is not wanted
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",  # DuckLake opens a few connections per DuckDB process; tests run several
    "shared_buffers": "64MB",
    "max_locks_per_transaction": "256",  # DROP DATABASE ... WITH (FORCE) and many-table catalogs
    "logging_collector": "off",
    "log_min_messages": "warning",
}


class PostgresMissing(RuntimeError):
    """The server binaries are not installed (one line: what installs them)."""


def pg_bin() -> Path:
    """The bin folder of the newest PostgreSQL installed under /usr/lib/postgresql."""
    found = [p.parent for p in PG_ROOT.glob("*/bin/initdb") if os.access(p, os.X_OK)]
    if not found:
        raise PostgresMissing(MISSING)

    def version(bin_dir: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", bin_dir.parent.name)) or (0,)

    return max(found, key=version)


def _as_root() -> bool:
    return os.geteuid() == 0


def _runner(top: Path) -> list[str]:
    """The prefix that runs a server command as the cluster's owner (nothing when we are not root).

    As root: `runuser -u postgres --` when the postgres user can reach `top`'s parent (the folders above
    pytest's temporary tree, which `grant_traverse` never changes). When it cannot (the tree lies inside a
    folder only root may enter: a TMPDIR made by `mktemp -d`, say), `setpriv` runs the command as the postgres
    user with one capability, CAP_DAC_READ_SEARCH (ambient, so the server's own children keep it), which lets
    it search the folders above its cluster. Only this throwaway cluster's processes get it.
    """
    if not _as_root():
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresMissing("runuser not found: it is needed to run PostgreSQL as the postgres user under root")
    as_postgres = [runuser, "-u", PG_USER, "--"]
    reach = subprocess.run([*as_postgres, "test", "-x", str(top.parent)], capture_output=True, check=False)
    if reach.returncode == 0:
        return as_postgres
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise PostgresMissing(
            f"the postgres user cannot enter {top.parent} and setpriv is not found: run the tests with a TMPDIR "
            "that other users may search"
        )
    return [setpriv, f"--reuid={PG_USER}", f"--regid={PG_USER}", "--init-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"]  # fmt: skip


def grant_traverse(folder: Path, upto: Path) -> None:
    """Let the `postgres` user reach `folder`: add search (o+x, not read) to it and each parent up to `upto`.

    Why this and nothing wider: pytest makes its base temp folder and the `pytest-of-<user>` folder above it
    mode 0700 for root, so the postgres user (which must own the cluster, initdb refusing root) cannot reach a
    cluster inside them. Search permission alone lets it open the path it is given without listing anything,
    and it is added only inside pytest's own temporary tree (`upto` is that tree's top: `pytest-of-<user>`, or
    the base temp itself under --basetemp); folders above it (/tmp) are left as they are.
    pytest resets `pytest-of-<user>` to 0700 when any later session starts, so this is called again before
    every command the postgres user runs; the running server only uses paths relative to its data folder.
    """
    folder, upto = folder.resolve(), upto.resolve()
    chain = [folder, *folder.parents]
    if upto not in chain:
        raise ValueError(f"{upto} is not {folder} or one of its parents")
    for path in chain[: chain.index(upto) + 1]:
        mode = path.stat().st_mode
        if not mode & stat.S_IXOTH:
            path.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def traverse_top(basetemp: Path) -> Path:
    """The top of pytest's temporary tree above `basetemp`: `pytest-of-<user>`, else `basetemp` itself."""
    return basetemp.parent if basetemp.parent.name.startswith("pytest-of-") else basetemp


def free_port() -> int:
    """A loopback TCP port nobody listens on now (the server start retries if another process takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def libpq_dsn(**values: str) -> str:
    """A libpq `key=value` connection string; a value with a space, quote or backslash is quoted as libpq reads it."""

    def quoted(value: str) -> str:
        if value and not re.search(r"[\s'\\]", value):
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{key}={quoted(value)}" for key, value in values.items())


@dataclass
class PgServer:
    """A running throwaway cluster: `folder/data` (cluster), `folder/run` (socket), `folder/server.log`."""

    folder: Path
    port: int
    bin_dir: Path
    user: str = PG_USER
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "run"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string over the Unix socket (DuckLake's `ducklake:postgres:<dsn>`, psycopg2)."""
        return libpq_dsn(dbname=dbname, host=str(self.socket_dir), port=str(self.port), user=self.user)

    def tcp_dsn(self, dbname: str = "postgres") -> str:
        """The same database over the loopback port."""
        return libpq_dsn(dbname=dbname, host="127.0.0.1", port=str(self.port), user=self.user)

    def url(self, dbname: str = "postgres") -> str:
        """A SQLAlchemy URL over the loopback port (Dagster's `postgres_url`); psycopg2, the driver installed."""
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> Any:
        """A psycopg2 connection (autocommit) to `dbname`."""
        import psycopg2

        conn = psycopg2.connect(self.dsn(dbname), **kwargs)
        conn.autocommit = True
        return conn

    def create_database(self, name: str) -> str:
        """Create database `name` (empty); its libpq connection string."""
        from psycopg2 import sql

        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, ending any session still connected to it."""
        import psycopg2
        from psycopg2 import sql

        for attempt in range(5):
            try:
                with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                return
            except psycopg2.OperationalError:
                # a session being ended as the database goes can take ours with it on a loaded machine
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster: sessions end, no waiting for clients); kill if it hangs."""
        proc, self.process = self.process, None
        if proc is None:
            return
        pid = _postmaster_pid(self.data_dir) or proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown: the postmaster ends its children
            proc.kill()
            proc.wait()


def _postmaster_pid(data_dir: Path) -> int | None:
    """The postmaster's pid from its lock file (under runuser, our child is runuser, not the postmaster)."""
    try:
        return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _end_with_parent() -> None:
    """In the server's child process before exec: when the process that started it dies without stopping it
    (pytest killed by a CI timeout), the child gets SIGTERM (runuser passes it on to the postmaster, which
    then shuts down once its clients, gone with their process, have disconnected). Linux only; else nothing."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _owned_by_cluster_user(path: Path) -> None:
    if _as_root():
        entry = pwd.getpwnam(PG_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def start_server(folder: Path, *, traverse_upto: Path | None = None, attempts: int = 3) -> PgServer:
    """initdb a cluster in `folder` (created; must be new or empty) and start it; the running `PgServer`.

    `traverse_upto` (as root): the highest folder that `grant_traverse` may open for the postgres user;
    default `folder` itself. Raises `PostgresMissing` when the binaries are not installed.
    """
    bin_dir = pg_bin()
    if _as_root():
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            raise PostgresMissing(f"no `{PG_USER}` system user: `make test` installs postgresql") from None
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    for sub in ("data", "run"):
        (folder / sub).mkdir(mode=0o700, exist_ok=True)
        _owned_by_cluster_user(folder / sub)
    top = traverse_upto.resolve() if traverse_upto is not None else folder
    runner = _runner(top)

    def grant() -> None:
        if _as_root():
            grant_traverse(folder, top)

    socket_len = len(str(folder / "run" / ".s.PGSQL.65535"))
    if socket_len > SOCKET_PATH_MAX:
        raise ValueError(f"socket path under {folder} is {socket_len} bytes, over {SOCKET_PATH_MAX}: use a shorter one")

    log = folder / "server.log"
    for attempt in range(attempts):
        grant()
        if not (folder / "data" / "PG_VERSION").exists():
            done = subprocess.run(
                [*runner, str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", PG_USER, "--auth=trust",
                 "--no-sync", "--encoding=UTF8", "--locale=C.UTF-8"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                if attempt + 1 < attempts:  # another pytest session reset pytest-of-<user> to 0700 meanwhile
                    _empty(folder / "data")
                    continue
                raise RuntimeError(f"initdb failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
        port = free_port()
        options: list[str] = []
        for key, value in {
            **SERVER_SETTINGS,
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(folder / "run"),
        }.items():
            options += ["-c", f"{key}={value}"]
        grant()
        with open(log, "ab") as out:
            # Its own session: a Ctrl-C meant for pytest does not reach it (the fixture's teardown stops it).
            proc = subprocess.Popen(
                [*runner, str(bin_dir / "postgres"), "-D", str(folder / "data"), *options],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_end_with_parent,
            )  # fmt: skip
        server = PgServer(folder=folder, port=port, bin_dir=bin_dir, process=proc)
        if _wait_ready(server):
            return server
        server.stop()
        if attempt + 1 == attempts:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError("PostgreSQL did not start: " + " | ".join(tail))
    raise AssertionError("unreachable")


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _wait_ready(server: PgServer) -> bool:
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.running():
            return False
        try:
            psycopg2.connect(server.dsn(), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            time.sleep(0.1)
    return False


@contextlib.contextmanager
def running_server(folder: Path, *, traverse_upto: Path | None = None) -> Iterator[PgServer]:
    """`start_server` for a `with` block; the server is stopped when the block ends, however it ends."""
    server = start_server(folder, traverse_upto=traverse_upto)
    try:
        yield server
    finally:
        server.stop()


# --- DuckDB on DuckLake, extensions from the wheels -------------------------------------------------------


def extension_directory() -> Path:
    """site-packages/duckdb_ext/extensions: the duckdb-ext-* wheels' files, laid out as DuckDB expects
    (`<dir>/v1.4.4/linux_amd64/<name>.duckdb_extension`), so `SET extension_directory` then `LOAD` finds them."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the duckdb-ext-* wheels are not installed (requirements.lock lists them)")
    return Path(next(iter(spec.submodule_search_locations))) / "extensions"


def extension_file(name: str) -> Path:
    """The wheel's file for extension `name` (`postgres` is shipped as postgres_scanner)."""
    import duckdb

    filename = {"postgres": "postgres_scanner"}.get(name, name) + ".duckdb_extension"
    matches = sorted(extension_directory().glob(f"v{duckdb.__version__}/*/{filename}"))
    if not matches:
        raise RuntimeError(f"no {filename} for DuckDB {duckdb.__version__} under {extension_directory()}")
    return matches[0]


def sql_string(value: str) -> str:
    """`value` as a SQL string literal (ATTACH and SET take no bound parameters for these)."""
    return "'" + value.replace("'", "''") + "'"


def load_ducklake(conn: Any) -> None:
    """Load ducklake and postgres into `conn` from the wheels' files; automatic download switched off."""
    conn.execute("SET autoinstall_known_extensions = false")
    conn.execute("SET autoload_known_extensions = false")
    conn.execute(f"SET extension_directory = {sql_string(str(extension_directory()))}")
    conn.execute("LOAD ducklake")
    conn.execute("LOAD postgres")


def attach_ducklake(conn: Any, catalog: str, data_path: Path, alias: str = "lake", *, inline_rows: int = 0) -> None:
    """`ATTACH 'ducklake:postgres:<catalog>' AS <alias> (DATA_PATH '<data_path>')`, then `USE <alias>`.

    `inline_rows` > 0: inserts of at most that many rows are kept in the catalog itself (DuckLake's data
    inlining) instead of a Parquet file each, so such a commit touches only the catalog.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alias):
        raise ValueError(f"not a plain identifier: {alias!r}")
    data_path.mkdir(parents=True, exist_ok=True)
    inlining = f", DATA_INLINING_ROW_LIMIT {int(inline_rows)}" if inline_rows else ""
    conn.execute(
        f"ATTACH {sql_string('ducklake:postgres:' + catalog)} AS {alias} "
        f"(DATA_PATH {sql_string(str(data_path) + os.sep)}{inlining})"
    )
    conn.execute(f"USE {alias}")


def open_ducklake(catalog: str, data_path: Path, alias: str = "lake", *, inline_rows: int = 0) -> Any:
    """A new in-memory DuckDB connection attached to the DuckLake `catalog` (and `USE`d)."""
    import duckdb

    conn = duckdb.connect()
    load_ducklake(conn)
    attach_ducklake(conn, catalog, data_path, alias, inline_rows=inline_rows)
    return conn


def is_conflict(exc: BaseException) -> bool:
    """DuckLake's transaction conflict (another writer committed first): the whole transaction may be retried."""
    import duckdb

    return isinstance(exc, duckdb.TransactionException) or "conflict" in str(exc).lower()


def insert_worker(catalog: str, data_path: str, table: str, first: int, count: int, barrier: Any = None) -> int:
    """Insert ids first..first+count-1 into `table` in one transaction, retrying it on a conflict.

    With a `barrier` (multiprocessing), every worker has its rows inserted before any of them commits, so the
    commits race. Returns the number of attempts. Runs in a worker process (importable for spawn).
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
        raise ValueError(f"not a plain identifier: {table!r}")
    conn = open_ducklake(catalog, Path(data_path))
    try:
        for attempt in range(1, 21):
            try:
                conn.execute("BEGIN TRANSACTION")
                conn.execute(
                    f"INSERT INTO {table} SELECT range AS id, 'w' || $first AS worker FROM range($first, $end)",
                    {"first": first, "end": first + count},
                )
                if barrier is not None and attempt == 1:
                    barrier.wait(timeout=60)
                conn.execute("COMMIT")
                return attempt
            except Exception as exc:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                if not is_conflict(exc):
                    raise
                time.sleep(0.05 * attempt)
        raise RuntimeError(f"worker {first}: still conflicting after 20 attempts")
    finally:
        conn.close()
