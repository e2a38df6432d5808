"""The composition root: sockets, timers, signals and the control socket.

The daemon holds no protocol decisions. It feeds the pure cores
(:class:`~hapulse.membership.Membership` and :class:`~hapulse.policy.Policy`)
with verified packets, control commands and the monotonic time, and carries
out the actions they return: packets to send, resource groups to acquire or
release (asynchronously, through :class:`~hapulse.resources.ResourceManager`),
log lines to write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hapulse.config import Config, ConfigError, load_config
from hapulse.wire.message import Message

log = logging.getLogger("hapulse")

DEFAULT_STATE_DIR = Path("/var/lib/hapulse")
DEFAULT_RUN_DIR = Path("/run/hapulse")


@dataclass
class DaemonOptions:
    confdir: Path
    node: str | None = None
    state_dir: Path = DEFAULT_STATE_DIR
    run_dir: Path = DEFAULT_RUN_DIR


@dataclass
class Counters:
    """What only the daemon knows; packet counts live in each transport."""

    rejected: int = 0
    deaths: int = 0
    started: float = field(default_factory=time.time)


def _log_action(level: str, text: str) -> None:
    log.log(logging.getLevelNamesMapping().get(level.upper(), logging.INFO), text)


class Daemon:
    """One hapulse node."""

    def __init__(self, config: Config, options: DaemonOptions) -> None:
        self.config = config
        self.options = options
        self.counters = Counters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopping = False
        self._done: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._transports: list[Any] = []
        self._group_state: dict[str, str] = {}
        self._group_since: dict[str, float] = {}
        self._events: list[str] = []

    # ---- time -------------------------------------------------------------
    @staticmethod
    def now() -> float:
        return time.monotonic()

    # ---- lifecycle --------------------------------------------------------
    async def run(self) -> int:
        from hapulse import realtime
        from hapulse.membership import Membership
        from hapulse.runtime import ControlServer, PidLock, StateDir
        from hapulse.transports import make_transport
        from hapulse.wire.auth import Authenticator

        cfg = self.config
        hacf = cfg.hacf
        self._loop = asyncio.get_running_loop()
        self._done = self._loop.create_future()
        opts = self.options
        opts.run_dir.mkdir(parents=True, exist_ok=True)
        opts.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = PidLock(opts.run_dir)
        self._lock.acquire()
        state = StateDir(opts.state_dir)
        generation = state.bump_generation()
        uuid = state.uuid()

        log.info(
            "hapulse starting: node %s, generation %d, keepalive %gs, warntime %gs, "
            "deadtime %gs, initdead %gs",
            cfg.node, generation, hacf.keepalive, hacf.warntime, hacf.deadtime, hacf.initdead,
        )
        if any(r.agent.lower() in ("ipaddr", "ipaddr2") for g in cfg.groups
               for r in g.resources):
            # the netlink library takes ~0.1 s to import: pay it now, not in the
            # middle of a takeover (and before memory is locked and the GC frozen)
            import pyroute2.iproute  # noqa: F401
        for level, text in realtime.apply(
            bool(getattr(hacf, "realtime", True)), getattr(hacf, "rtprio", None)
        ):
            _log_action(level, text)

        self.auth = Authenticator.from_authkeys(cfg.authkeys)
        self._reject_limiter: Any = None
        with contextlib.suppress(ImportError, AttributeError):
            from hapulse.wire.auth import RejectLimiter

            self._reject_limiter = RejectLimiter()

        now = self.now()
        links = tuple(dict.fromkeys(m.link for m in hacf.media))
        self.membership = Membership(
            local=cfg.node,
            nodes=hacf.nodes,
            links=links,
            keepalive=hacf.keepalive,
            deadtime=hacf.deadtime,
            warntime=hacf.warntime,
            initdead=hacf.initdead,
            generation=generation,
            uuid=uuid,
            now=now,
        )
        self.policy = _make_policy(cfg, now)
        self.resources = _make_resources(cfg, self._resource_log)
        if self.policy is None and cfg.groups:
            log.warning("this build has no resource manager yet: the groups in haresources "
                        "are not started (membership only)")
        self._groups = {g.resources[0].text: g for g in cfg.groups}

        for medium in hacf.media:
            t = make_transport(medium, hacf.udpport)
            await t.start(self._packet_handler(t.link))
            self._transports.append(t)
            log.info("%s: %s medium on %s ready", cfg.node, medium.kind, t.link)

        self.control = ControlServer(opts.run_dir, self._control_handlers())
        await self.control.start()
        self._install_signals()
        self._notify("READY=1")
        self._start_watchdog()
        log.info("Local status now set to: 'up'")

        self._handle(self.membership.tick(self.now()))
        self._schedule()
        try:
            await self._done
        finally:
            await self._close()
        return 0

    async def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for t in self._transports:
            with contextlib.suppress(Exception):
                await t.close()
        with contextlib.suppress(Exception):
            await self.control.close()
        with contextlib.suppress(Exception):
            self._lock.release()
        log.info("hapulse stopped")

    def _install_signals(self) -> None:
        assert self._loop is not None
        self._loop.add_signal_handler(signal.SIGTERM, self.request_shutdown)
        self._loop.add_signal_handler(signal.SIGINT, self.request_shutdown)
        self._loop.add_signal_handler(signal.SIGHUP, self.reload)

    def _start_watchdog(self) -> None:
        """systemd's WatchdogSec: ping at half the period while the loop runs."""
        usec = os.environ.get("WATCHDOG_USEC", "")
        if not usec.isascii() or not usec.isdigit() or self._loop is None:
            return
        period = int(usec) / 2e6

        def ping() -> None:
            self._notify("WATCHDOG=1")
            if self._done is not None and not self._done.done():
                assert self._loop is not None
                self._loop.call_later(period, ping)

        ping()

    def _notify(self, state: str) -> None:
        """sd_notify: READY=1, STOPPING=1, WATCHDOG=1 when run under systemd."""
        addr = os.environ.get("NOTIFY_SOCKET")
        if not addr:
            return
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        with contextlib.suppress(OSError), socket.socket(
            socket.AF_UNIX, socket.SOCK_DGRAM
        ) as s:
            s.sendto(state.encode(), addr)

    # ---- packets in -------------------------------------------------------
    def _packet_handler(self, link: str) -> Callable[[bytes, str], None]:
        def on_packet(data: bytes, source: str) -> None:
            self._on_packet(data, source, link)

        return on_packet

    def _on_packet(self, data: bytes, source: str, link: str) -> None:
        from hapulse.wire.auth import AuthError
        from hapulse.wire.codec import WireError

        try:
            msg = self.auth.decode_and_verify(data)
        except (WireError, AuthError) as exc:
            if self._reject(source):
                log.warning("rejected packet from %s on %s: %s", source, link, exc)
            return
        except Exception as exc:  # a decoder bug: drop the packet, keep the node alive
            if self._reject(source):
                log.error("packet from %s on %s dropped: the decoder failed on it (%r); "
                          "please report this as a hapulse bug", source, link, exc)
            return
        src = msg.get("src")
        if src is not None and src.lower() == self.config.node.lower():
            return  # our own broadcast/multicast looped back
        self._handle(self.membership.receive(msg, link=link, now=self.now()))
        self._schedule()

    def _reject(self, source: str) -> bool:
        """Count a dropped packet; True when its log line is not rate-limited away."""
        self.counters.rejected += 1
        return self._reject_limiter is None or self._reject_limiter.should_log(
            source, self.now())

    # ---- actions ----------------------------------------------------------
    def _handle(self, actions: Iterable[Any]) -> None:
        from hapulse import membership as mb

        pol: Any = _policy_module()

        pending = list(actions)
        budget = 10_000
        while pending and budget > 0:
            budget -= 1
            a = pending.pop(0)
            now = self.now()
            if isinstance(a, mb.Send):
                self._send(a.msg, a.link)
            elif isinstance(a, mb.NodeStatus):
                log.info("Status update for node %s: status %s", a.node, a.new)
                self._event(f"node {a.node} {a.old} -> {a.new}")
                if a.new == "dead":
                    self.counters.deaths += 1
                if self.policy is not None:
                    pending.extend(self.policy.on_node_status(a.node, a.new, now))
            elif isinstance(a, mb.LinkStatus):
                log.info("Link %s:%s %s.", a.node, a.link, a.new)
                self._event(f"link {a.node}:{a.link} {a.new}")
            elif isinstance(a, mb.Deliver):
                if self.policy is not None:
                    pending.extend(self.policy.on_message(a.msg, a.node, now))
            elif isinstance(a, mb.Log) or (pol is not None and isinstance(a, pol.Log)):
                _log_action(a.level, a.text)
            elif pol is None:
                log.error("internal: unknown action %r", a)
            elif isinstance(a, pol.SendCluster):
                pending.extend(self.membership.send_cluster(a.msg, now))
            elif isinstance(a, pol.Acquire):
                self._spawn(self._run_group("acquire", a.group_id))
            elif isinstance(a, pol.Release):
                self._spawn(self._run_group("release", a.group_id))
            elif isinstance(a, pol.ShutdownComplete):
                self._finish_shutdown()
            else:  # pragma: no cover - a new action type the daemon does not know
                log.error("internal: unknown action %r", a)

    def _send(self, msg: Message, link: str | None) -> None:
        packet = self.auth.sign_and_encode(msg)
        for t in self._transports:
            if link is None or t.link == link:
                t.send(packet)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_group(self, op: str, group_id: str) -> None:
        group = self._groups.get(group_id)
        if group is None:
            log.error("internal: policy asked to %s unknown group %s", op, group_id)
            return
        started = self.now()
        self._set_group_state(group_id, "starting" if op == "acquire" else "stopping")
        log.info("%s resource group %s", "Acquiring" if op == "acquire" else "Releasing", group_id)
        try:
            if op == "acquire":
                result = await self.resources.acquire(group)
            else:
                result = await self.resources.release(group)
            ok = bool(result.ok)
            reason = getattr(result, "reason", "") or ""
        except Exception as exc:  # an agent bug must not kill the daemon
            log.exception("resource group %s: %s raised", group_id, op)
            ok, reason = False, str(exc)
        took = self.now() - started
        if ok:
            self._set_group_state(group_id, "running" if op == "acquire" else "stopped")
            log.info(
                "%s of resource group %s complete in %.3f s",
                "acquisition" if op == "acquire" else "release", group_id, took,
            )
        else:
            self._set_group_state(group_id, "failed")
            log.error("%s of resource group %s FAILED after %.3f s: %s",
                      op, group_id, took, reason)
        self._handle(self.policy.on_resource_done(group_id, op, ok, self.now()))
        self._schedule()

    def _set_group_state(self, group_id: str, state: str) -> None:
        self._group_state[group_id] = state
        self._group_since[group_id] = time.time()

    def _rscstatus(self) -> str:
        """What `cl_status rscstatus` answers: Heartbeat's words and meanings."""
        if self.policy is None:
            return "none"
        return str(self.policy.cl_rscstatus(self.now()))

    def _parameters(self) -> dict[str, str]:
        h = self.config.hacf
        params = {d.name: " ".join(d.args) for d in h.directives}
        params.update({"keepalive": f"{int(h.keepalive * 1000)}ms" if h.keepalive < 1
                       else params.get("keepalive", f"{h.keepalive:g}"),
                       "hbversion": "hapulse-" + __import__("hapulse").__version__})
        return params

    def _resource_log(self, level: str, text: str) -> None:
        _log_action(level, text)

    def _event(self, text: str) -> None:
        self._events.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}")
        del self._events[:-50]

    # ---- timers -----------------------------------------------------------
    def _schedule(self) -> None:
        if self._loop is None or self._done is None or self._done.done():
            return
        deadline = self.membership.next_deadline()
        pdl = getattr(self.policy, "next_deadline", None)
        if callable(pdl):
            p = pdl()
            if p is not None:
                deadline = min(deadline, p)
        if self._timer is not None:
            self._timer.cancel()
        # asyncio's loop clock is time.monotonic(), the clock the cores are fed.
        # Never a deadline in the past: a core that keeps one would spin the loop.
        self._timer = self._loop.call_at(max(deadline, self._loop.time() + 0.001),
                                         self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self.now()
        actions: list[Any] = list(self.membership.tick(now))
        if self.policy is not None:
            actions.extend(self.policy.tick(now))
        self._handle(actions)
        self._schedule()

    # ---- control ----------------------------------------------------------
    def request_shutdown(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._notify("STOPPING=1")
        log.info("hapulse shutdown requested: releasing resources")
        if self.policy is None:
            self._finish_shutdown()
            return
        self._handle(self.policy.shutdown(self.now()))
        self._schedule()
        # Bound a shutdown whose peers never answer.
        assert self._loop is not None
        self._loop.call_later(max(30.0, self.config.hacf.deadtime), self._finish_shutdown)

    def _finish_shutdown(self) -> None:
        if self._done is not None and not self._done.done():
            # Tell peers we are leaving, as Heartbeat does on shutdown.
            leaving = getattr(self.membership, "leave", None)
            if callable(leaving):
                self._handle(leaving(self.now()))
            self._done.set_result(None)

    def reload(self) -> dict[str, Any]:
        config, diags = load_config(self.config.confdir, self.config.node)
        problems = [str(d) for d in diags]
        if config is None:
            log.error("reload refused: the configuration has errors; keeping the running one")
            for p in problems:
                log.error("%s", p)
            return {"ok": False, "error": "configuration has errors", "diagnostics": problems}
        changed = config != self.config
        self.config = config
        log.info("configuration reloaded%s", "" if changed else " (unchanged)")
        return {"ok": True, "diagnostics": problems, "changed": changed}

    def _control_handlers(self) -> dict[str, Callable[..., Any]]:
        return {
            "status": lambda **_: self.status(),
            "stop": lambda **_: self._ctl_stop(),
            "reload": lambda **_: self.reload(),
            "standby": lambda which="all", **_: self._ctl_standby(which),
            "takeover": lambda which="all", **_: self._ctl_takeover(which),
            "ping": lambda **_: {"ok": True, "pid": os.getpid()},
        }

    def _ctl_stop(self) -> dict[str, Any]:
        assert self._loop is not None
        self._loop.call_soon(self.request_shutdown)
        return {"ok": True, "pid": os.getpid()}

    def _ctl_standby(self, which: str) -> dict[str, Any]:
        if self.policy is None:
            return {"ok": False, "error": "no resource manager in this build"}
        self._handle(self.policy.standby(which, self.now()))
        self._schedule()
        return {"ok": True}

    def _ctl_takeover(self, which: str) -> dict[str, Any]:
        if self.policy is None:
            return {"ok": False, "error": "no resource manager in this build"}
        self._handle(self.policy.takeover(which, self.now()))
        self._schedule()
        return {"ok": True}

    def status(self) -> dict[str, Any]:
        cfg = self.config
        snap = self.membership.snapshot(self.now())
        psnap = self.policy.snapshot() if self.policy is not None else None
        return {
            "ok": True,
            "node": cfg.node,
            "pid": os.getpid(),
            "uptime": round(time.time() - self.counters.started, 1),
            "hbstatus": "stopping" if self._stopping else "running",
            "timers": {
                "keepalive": cfg.hacf.keepalive,
                "warntime": cfg.hacf.warntime,
                "deadtime": cfg.hacf.deadtime,
                "initdead": cfg.hacf.initdead,
            },
            "nodes": snap["nodes"],
            "rscstatus": self._rscstatus(),
            "parameters": self._parameters(),
            "policy": _jsonable(psnap),
            "groups": [
                {
                    "id": gid,
                    "preferred": g.node,
                    "resources": [r.text for r in g.resources],
                    "local_state": self._group_state.get(gid, "stopped"),
                    "since": self._group_since.get(gid),
                }
                for gid, g in self._groups.items()
            ],
            "counters": {
                "packets_in": sum(t.counters.packets_in for t in self._transports),
                "packets_out": sum(t.counters.packets_out for t in self._transports),
                "send_errors": sum(t.counters.errors for t in self._transports),
                "rejected": self.counters.rejected,
                "deaths_seen": self.counters.deaths,
            },
            "events": list(self._events[-20:]),
        }


def _policy_module() -> Any:
    import importlib

    try:
        return importlib.import_module("hapulse.policy")
    except ImportError:
        return None


def _make_policy(cfg: Config, now: float) -> Any:
    pol = _policy_module()
    if pol is None or not hasattr(pol, "Policy"):
        return None
    return pol.Policy(cfg.node, cfg.hacf.nodes, cfg.groups, cfg.hacf.auto_failback, now)


def _make_resources(cfg: Config, log_fn: Callable[[str, str], None]) -> Any:
    import importlib

    try:
        mod = importlib.import_module("hapulse.resources")
    except ImportError:
        return None
    manager = getattr(mod, "ResourceManager", None)
    return manager(cfg.confdir, log=log_fn) if manager is not None else None


def _jsonable(value: Any) -> Any:
    """Dataclasses, enums and tuples of a core snapshot as plain JSON values."""
    import dataclasses
    import enum

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def run_foreground(options: DaemonOptions) -> int:
    """Load the configuration, set up logging and run until stopped."""
    from hapulse.cli import UserError
    from hapulse.logsetup import setup_logging

    config, diags = load_config(options.confdir, options.node)
    for d in diags:
        print(str(d), flush=True)
    if config is None:
        raise UserError(
            f"the configuration in {options.confdir} has errors (listed above); "
            "fix them and start again (`hapulse check` shows them)"
        )
    setup_logging(config.hacf, stderr=True)
    daemon = Daemon(config, options)
    try:
        return asyncio.run(daemon.run())
    except ConfigError as exc:
        raise UserError(str(exc)) from exc
