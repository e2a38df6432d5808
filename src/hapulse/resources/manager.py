"""The group manager: a group's resources started in order, stopped in reverse."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hapulse.config import ResourceGroup
from hapulse.resources import arpprobe
from hapulse.resources.agent import Agent, LogFn, Result
from hapulse.resources.ipaddr import IPaddr
from hapulse.resources.scripts import make_agent


class ResourceManager:
    """Starts a group's resources in order, stops them in reverse."""

    def __init__(self, confdir: Path, log: LogFn,
                 script_dirs: Sequence[Path] | None = None, stop_retries: int = 3) -> None:
        self.confdir = Path(confdir)
        self.log = log
        self.script_dirs = script_dirs
        self.stop_retries = stop_retries

    def agents(self, group: ResourceGroup) -> list[Agent]:
        return [make_agent(r, self.confdir, self.log, self.script_dirs) for r in group.resources]

    async def acquire(self, group: ResourceGroup) -> Result:
        started: list[Agent] = []
        for agent in self.agents(group):
            res = await agent.start()
            if not res.ok:
                self.log("error", f"resource {agent.text} failed to start: {res.reason}; "
                                  f"stopping the {len(started)} started before it")
                for a in reversed(started):
                    await self._stop(a)
                return Result(False, f"{agent.text}: {res.reason}", agent.text)
            self.log("info", f"resource {agent.text} started")
            started.append(agent)
        return Result(True)

    async def _stop(self, agent: Agent) -> Result:
        res: Result = Result(False, "not tried", agent.text)
        for attempt in range(1, self.stop_retries + 1):
            res = await agent.stop()
            if res.ok:
                self.log("info", f"resource {agent.text} stopped")
                return res
            self.log("error", f"resource {agent.text} FAILED to stop (attempt {attempt}/"
                              f"{self.stop_retries}): {res.reason}")
        return res

    async def release(self, group: ResourceGroup) -> Result:
        failed = []
        for agent in reversed(self.agents(group)):
            res = await self._stop(agent)
            if not res.ok:
                failed.append(f"{agent.text}: {res.reason}")
        return Result(not failed, "; ".join(failed))

    async def status(self, group: ResourceGroup) -> dict[str, bool]:
        return {a.text: (await a.status()).ok for a in self.agents(group)}

    async def answering(self, group: ResourceGroup) -> str | None:
        """Who on the LAN still answers for one of the group's addresses (an ARP probe),
        in words, or None: a takeover checks its addresses are free first."""
        for agent in self.agents(group):
            if isinstance(agent, IPaddr):
                ifname = agent.arg.interface if agent.arg is not None else None
                mac = await arpprobe.probe(agent.address, ifname)
                if mac is not None:
                    return f"{agent.address} is answered by {mac}"
        return None

    async def readvertise(self, group: ResourceGroup) -> None:
        """Announce the group's addresses again (a gratuitous ARP burst): starting an
        address that is already here only re-sends the burst."""
        for agent in self.agents(group):
            if isinstance(agent, IPaddr):
                await agent.start()
