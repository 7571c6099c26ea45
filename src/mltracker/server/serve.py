"""Running the tracking server: in the foreground (``mltracker server``) or in a thread.

Both open the store of a URI on their own (not through ``connect``'s sessions: the server
writes each batch before it answers), create or upgrade it as ``mltracker db upgrade`` does
(a read-only server opens it as it is), and serve the application of
``mltracker.server.app`` with uvicorn. The store is a database: a tracking server's URL is
refused (a server of itself would wait on its own answers). uvicorn ends on SIGTERM
and SIGINT after the requests in progress are answered, so a batch being written is
written.

With ``ssl_certfile`` and ``ssl_keyfile`` (``--ssl-certfile``/``--ssl-keyfile``) uvicorn
speaks HTTPS itself, with that certificate, and the announced URL is ``https://``; the files
are checked before the store is opened (``mltracker.server.tls``).

uvicorn's HTTP protocol gets a deadline for each request's headers (``header_timeout``:
``mltracker.server.timeouts``). Its access log (a line per request, on stderr) is off unless
``access_log``.

Behind a reverse proxy that serves it under a path and strips that path from each request,
``root_path`` names it (uvicorn's root path: see ``mltracker.server.rootpath``).
"""

from __future__ import annotations

import copy
import ipaddress
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from mltracker.errors import InvalidArgumentError
from mltracker.ports.store import Store
from mltracker.schemes import open_store, resolve_uri
from mltracker.server.app import DEFAULT_MAX_BODY_BYTES, create_app, token_source
from mltracker.server.guards import split_host
from mltracker.server.rootpath import check_root_path
from mltracker.server.timeouts import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, http_protocol
from mltracker.server.tls import check_tls_files
from mltracker.tokens import check_secret, read_tokens

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Where ``--workers N`` passes the settings to each worker process.
_SETTINGS_VARIABLES = (
    "MLTRACKER_SERVER_URI",
    "MLTRACKER_SERVER_TOKEN",
    "MLTRACKER_SERVER_TOKENS",
    "MLTRACKER_SERVER_READ_ONLY",
    "MLTRACKER_SERVER_ALLOWED_HOSTS",
    "MLTRACKER_SERVER_MAX_BODY_BYTES",
    "MLTRACKER_SERVER_BODY_TIMEOUT",
)
#: The addresses that stand for every address of the machine.
_EVERY_ADDRESS = frozenset({"0.0.0.0", "::", "[::]"})


@dataclass(frozen=True)
class ServerSettings:
    """What ``mltracker server`` was asked for."""

    uri: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    #: The tokens file (``--tokens``), instead of ``token``.
    tokens_file: str | None = None
    read_only: bool = False
    workers: int = 1
    insecure: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Create or upgrade the store before serving (``mltracker ui``, which only reads, does
    #: not: it serves the store as it is, read-only; nor does a read-only server).
    prepare: bool = True
    #: The host names answered besides the loopback ones and the server's own (``--allowed-host``:
    #: ``*`` for any). None given: any with a token, else those only (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    #: The PEM files of the server's certificate (its chain) and private key: HTTPS. Both or
    #: neither.
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @property
    def tls(self) -> bool:
        """Whether the server speaks HTTPS."""
        return self.ssl_certfile is not None

    #: Seconds for a request's line and headers (``--header-timeout``), and that a body may
    #: stall (``--body-timeout``): then 408 (see ``mltracker.server.timeouts``).
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    #: Print a line per request on stderr (``--access-log``).
    access_log: bool = False

    #: The path prefix under which a reverse proxy serves the server, which the proxy strips
    #: from each request (``--root-path``: see ``mltracker.server.rootpath``); "" for none.
    root_path: str = ""


def check_settings(settings: ServerSettings) -> None:
    """Refuse settings that would expose a store by mistake.

    Raises:
        InvalidArgumentError: A host that is not loopback without a token (unless
            ``insecure``), an empty token, a token shorter than 16 characters or not
            printable ASCII, both a token and a tokens file, a tokens file that is not one
            (see :func:`mltracker.tokens.read_tokens`), fewer than one worker, a body limit
            or a timeout that is not positive, a root path that is not one (see
            :func:`mltracker.server.rootpath.check_root_path`), a store that is a tracking
            server (an ``http(s)://`` URI), or TLS files that cannot serve (see
            :func:`mltracker.server.tls.check_tls_files`).
    """
    check_tls_files(settings.ssl_certfile, settings.ssl_keyfile)
    uri = resolve_uri(settings.uri)
    if uri.startswith(("http://", "https://")):
        raise InvalidArgumentError(
            f"the store {uri} is a tracking server: a server serves a database (a SQLite "
            "path or postgresql://...). Give it with --uri (or $MLTRACKER_URI), and let the "
            "jobs log to this server's URL"
        )
    if settings.token is not None and not settings.token.strip():
        raise InvalidArgumentError("the token must not be empty")
    if settings.token is not None and settings.tokens_file is not None:
        token_source(settings.token, settings.tokens_file)  # raises, saying why
    if settings.token is not None:
        check_secret(settings.token, "the token of --token")
    if settings.tokens_file is not None:
        read_tokens(settings.tokens_file)
    if settings.workers < 1:
        raise InvalidArgumentError("--workers must be at least 1")
    if settings.max_body_bytes < 1:
        raise InvalidArgumentError("--max-body-mb must be positive")
    for flag, seconds in (
        ("--header-timeout", settings.header_timeout),
        ("--body-timeout", settings.body_timeout),
    ):
        if not seconds > 0:
            raise InvalidArgumentError(f"{flag} must be a positive number of seconds")
    check_root_path(settings.root_path)
    if not has_tokens(settings) and not settings.insecure and not is_loopback(settings.host):
        raise InvalidArgumentError(
            f"refusing to serve on {settings.host} without a token: anyone who reaches it could "
            "read and change the store. Give --token (or $MLTRACKER_TOKEN) or --tokens FILE, "
            "or --insecure if the network is yours alone"
        )


def has_tokens(settings: ServerSettings) -> bool:
    """Whether the server asks for a token."""
    return settings.token is not None or settings.tokens_file is not None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: ServerSettings) -> list[str] | None:
    """The host names the application answers besides the loopback ones (see
    :func:`mltracker.server.app.create_app`): ``--allowed-host`` and the names in the URL
    that :func:`serve` announces; ``None`` when the token alone guards."""
    if not settings.allowed_hosts and has_tokens(settings):
        return None
    own = [] if is_loopback(settings.host) else [split_host(announced_host(settings.host))[0]]
    return [*settings.allowed_hosts, *own]


def announced_host(host: str) -> str:
    """The host of the URL announced for a server listening on ``host``: the machine's name
    when it listens on every address."""
    return socket.gethostname() if host in _EVERY_ADDRESS else host


def listening_on(host: str) -> str:
    """Which addresses a server listening on ``host`` takes connections on, for people."""
    if host in _EVERY_ADDRESS:
        family = "IPv4" if host == "0.0.0.0" else "IPv6 (and IPv4 where the system maps it)"
        return f"all addresses of this machine ({host}: every {family} address)"
    return host


def prepared_store(uri: str | None) -> Store:
    """The store of ``uri``, created or upgraded so that it can be written at once."""
    store = open_store(uri)
    try:
        store.prepare()
    except BaseException:
        store.close()
        raise
    return store


def url_of(host: str, port: int, *, tls: bool = False) -> str:
    """The URL of a server listening on ``host`` and ``port`` (on every address: the
    machine's name); ``https://`` with ``tls``."""
    host = announced_host(host)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def serve(settings: ServerSettings, announce: Callable[[str], None] = print) -> None:
    """Serve until SIGTERM or SIGINT; ``announce`` gets the URL once the server listens.

    Raises:
        InvalidArgumentError: See :func:`check_settings`.
        OSError: The address cannot be bound.
    """
    check_settings(settings)
    prepare = settings.prepare and not settings.read_only
    store = prepared_store(settings.uri) if prepare else open_store(settings.uri)
    try:
        if settings.workers > 1:
            store.close()
            _serve_workers(settings, announce)
            return
        app = create_app(
            store,
            token=settings.token,
            tokens_file=settings.tokens_file,
            read_only=settings.read_only,
            max_body_bytes=settings.max_body_bytes,
            allowed_hosts=allowed_hosts(settings),
            body_timeout=settings.body_timeout,
        )
        sock = _bind(settings.host, settings.port)
        options = uvicorn_options(settings.header_timeout, settings.access_log, tls=settings.tls)
        options.update(_tls_files(settings.ssl_certfile, settings.ssl_keyfile))
        config = uvicorn.Config(app, root_path=check_root_path(settings.root_path), **options)
        server = uvicorn.Server(config)
        announce(url_of(settings.host, sock.getsockname()[1], tls=settings.tls))
        server.run(sockets=[sock])
    finally:
        store.close()


def _serve_workers(settings: ServerSettings, announce: Callable[[str], None]) -> None:
    if settings.port == 0:
        raise InvalidArgumentError("--workers needs a port of its own (not 0)")
    os.environ["MLTRACKER_SERVER_URI"] = settings.uri or ""
    if settings.token is not None:
        os.environ["MLTRACKER_SERVER_TOKEN"] = settings.token
    if settings.tokens_file is not None:
        os.environ["MLTRACKER_SERVER_TOKENS"] = os.path.abspath(settings.tokens_file)
    os.environ["MLTRACKER_SERVER_READ_ONLY"] = "1" if settings.read_only else ""
    # An empty list and None mean the same (see ``allowed_hosts``): the loopback names only
    # without a token, any with one.
    os.environ["MLTRACKER_SERVER_ALLOWED_HOSTS"] = "\n".join(allowed_hosts(settings) or ())
    os.environ["MLTRACKER_SERVER_MAX_BODY_BYTES"] = str(settings.max_body_bytes)
    os.environ["MLTRACKER_SERVER_BODY_TIMEOUT"] = repr(settings.body_timeout)
    announce(url_of(settings.host, settings.port, tls=settings.tls))
    uvicorn.run(
        "mltracker.server.serve:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        **uvicorn_options(settings.header_timeout, settings.access_log, tls=settings.tls),
        **_tls_files(settings.ssl_certfile, settings.ssl_keyfile),
        root_path=check_root_path(settings.root_path),
    )


def _tls_files(certfile: str | None, keyfile: str | None) -> dict[str, Any]:
    """uvicorn's options for HTTPS with these files (none without them)."""
    if certfile is None or keyfile is None:
        return {}
    return {"ssl_certfile": certfile, "ssl_keyfile": keyfile}


def app_from_environment() -> object:
    """The application of one worker process of ``--workers N``."""
    uri, token, tokens_file, read_only, hosts, max_body, body_timeout = (
        os.environ.get(name) for name in _SETTINGS_VARIABLES
    )
    store = open_store(uri or None)
    return create_app(
        store,
        token=token or None,
        tokens_file=tokens_file or None,
        read_only=bool(read_only),
        allowed_hosts=hosts.split("\n") if hosts else None,
        max_body_bytes=int(max_body) if max_body else DEFAULT_MAX_BODY_BYTES,
        body_timeout=float(body_timeout) if body_timeout else DEFAULT_BODY_TIMEOUT,
    )


def uvicorn_options(
    header_timeout: float, access_log: bool, *, tls: bool = False
) -> dict[str, Any]:
    """uvicorn's options (besides the application, where it listens and its TLS files) of a
    server with ``header_timeout`` seconds per request's headers, its access log or none,
    and (``tls``) the shutdown of a server of TLS (``mltracker.server.goodbye``)."""
    return {
        "http": http_protocol(header_timeout, tls=tls),
        "log_config": log_config(access_log),
        "log_level": None,  # the levels are log_config's
        "access_log": access_log,
        "timeout_graceful_shutdown": 30,
    }


def log_config(access_log: bool) -> dict[str, Any]:
    """uvicorn's logging: its warnings and errors, and with ``access_log`` a line per
    request (time, client, request line, status), all on stderr: stdout is the URL's."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    config["formatters"]["access"]["fmt"] = (
        '%(asctime)s %(client_addr)s - "%(request_line)s" %(status_code)s'
    )
    config["loggers"]["uvicorn.error"]["level"] = "WARNING"
    config["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    return config


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # With the protocol named, asyncio sets TCP_NODELAY on each accepted connection: without
    # it, every answer waits for the client's delayed ACK (about 40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ServerThread:
    """A server of a store in a thread of this process, on a free port of 127.0.0.1 (for
    notebooks, benchmarks and tests). ``url`` is where it listens (``https://`` with
    ``ssl_certfile`` and ``ssl_keyfile``); :meth:`stop` ends it after the requests in
    progress. The options are :func:`create_app`'s, ``header_timeout`` and ``root_path``
    (see :class:`ServerSettings`); no access log.

    Raises (when made):
        InvalidArgumentError: See :func:`mltracker.server.app.create_app`; TLS files that
            cannot serve (see :func:`mltracker.server.tls.check_tls_files`), and a root path
            that is not one.
    """

    def __init__(
        self,
        store: Store,
        *,
        token: str | None = None,
        tokens_file: str | os.PathLike[str] | None = None,
        read_only: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        ssl_certfile: str | os.PathLike[str] | None = None,
        ssl_keyfile: str | os.PathLike[str] | None = None,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        root_path: str = "",
    ) -> None:
        root = check_root_path(root_path)
        certfile = None if ssl_certfile is None else os.fspath(ssl_certfile)
        keyfile = None if ssl_keyfile is None else os.fspath(ssl_keyfile)
        check_tls_files(certfile, keyfile)
        app = create_app(
            store,
            token=token,
            tokens_file=tokens_file,
            read_only=read_only,
            max_body_bytes=max_body_bytes,
            body_timeout=body_timeout,
        )
        self._socket = _bind(DEFAULT_HOST, 0)
        port = self._socket.getsockname()[1]
        self.url = url_of(DEFAULT_HOST, port, tls=certfile is not None)
        options = uvicorn_options(header_timeout, access_log=False, tls=certfile is not None)
        del options["timeout_graceful_shutdown"]  # stop() waits for what is in progress
        options.update(_tls_files(certfile, keyfile))
        self._server = uvicorn.Server(uvicorn.Config(app, root_path=root, **options))
        self._then: Callable[[], object] | None = None
        self._ending = threading.Lock()
        self._ended = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.005)

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()
            with self._ending:
                self._ended = True
                then, self._then = self._then, None
            if then is not None:
                then()

    def stop(self, *, wait: bool = True, then: Callable[[], object] | None = None) -> None:
        """Stop serving (uvicorn notices within 0.1 s); with ``wait``, return once the
        requests in progress are answered and the server is gone. ``then`` is called once
        it is gone (in the server's thread when not waiting), e.g. the store's ``close``:
        a store closed earlier would drop the connection of a request still in progress
        unclosed."""
        with self._ending:
            ended = self._ended
            if not ended:
                self._then = then
        self._server.should_exit = True
        if ended and then is not None:
            then()
        if wait:
            self._thread.join()
