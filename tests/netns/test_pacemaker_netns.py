"""The seed's cluster exported to Pacemaker and run: Corosync 3 + Pacemaker 2.1 on f801 and f802.

`hapulse export pacemaker` runs on f801 (as an operator would: it reads the
seed's files, f801's interfaces and /etc/init.d) and writes the crm
configuration and corosync.conf; both nodes get them with one Corosync key,
each its own /etc/corosync, /var/lib/pacemaker, /var/lib/corosync, /run and
logs. The crm form is loaded into the live cluster; the client sees the
site on f801, then on f802 after f801's power is pulled, and the gap is
measured by polling every 50 ms. Needs Debian's pacemaker, corosync and crmsh.
"""

from __future__ import annotations

import shutil
import time

import pytest

from hapulse.lab import Host, Lab, wait_for
from hapulse.lab.ha_d import write_ha_d
from hapulse.lab.nodes import HAPULSE, install_httpd, seed_files, served_by

pytestmark = pytest.mark.netns
TOOLS = ("corosync", "pacemakerd", "crm", "crm_mon", "corosync-keygen", "curl")
PACEMAKERD = shutil.which("pacemakerd") or "/usr/sbin/pacemakerd"
COROSYNC = shutil.which("corosync") or "/usr/sbin/corosync"
DEADTIME = 30.0  # the seed's: exported as token + consensus (2.2 x the token)


def pacemaker_host(host: Host, corosync_conf: str, authkey: bytes) -> None:
    """Private state for Corosync and Pacemaker, the seed's httpd, the exported corosync.conf."""
    etc = host.private("/etc/corosync")
    (etc / "corosync.conf").write_text(corosync_conf)
    (etc / "authkey").write_bytes(authkey)
    (etc / "authkey").chmod(0o400)
    lib = host.private("/var/lib/pacemaker")
    for sub in ("cib", "pengine", "blackbox", "cores"):
        (lib / sub).mkdir(exist_ok=True)
        shutil.chown(lib / sub, "hacluster", "haclient")
        (lib / sub).chmod(0o750)
    host.private("/var/lib/corosync")
    run = host.private("/run")
    (run / "resource-agents").mkdir(exist_ok=True)
    logs = host.private("/var/log/pacemaker")
    shutil.chown(logs, "hacluster", "haclient")
    host.private("/var/log/corosync")
    install_httpd(host.private("/etc/init.d"))


def start_stack(host: Host) -> None:
    log = open(host.dir / "stack.log", "a")  # noqa: SIM115 - handed to the children
    host.popen([COROSYNC, "-f"], stdout=log, stderr=log)
    wait_for(lambda: host.run(["corosync-cfgtool", "-s"], timeout=10).returncode == 0, 30,
             interval=0.2, what=f"corosync on {host.name}")
    host.popen(["env", "PCMK_logfile=/var/log/pacemaker/pacemaker.log", PACEMAKERD, "-f"],
               stdout=log, stderr=log)
    log.close()


def online(host: Host) -> set[str]:
    r = host.run(["crm_mon", "-1", "--output-as=xml"], timeout=20)
    if r.returncode != 0:
        return set()
    import xml.etree.ElementTree as ET

    root = ET.fromstring(r.stdout)
    return {n.get("name", "") for n in root.iter("node") if n.get("online") == "true"
            and n.get("name")}


@pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                    reason="needs Debian's pacemaker, corosync, crmsh and curl")
def test_exported_seed_runs_on_pacemaker(seed: Lab) -> None:
    f801, f802, client = (seed.hosts[n] for n in ("f801", "f802", "client"))
    confdir = write_ha_d(f801.dir / "ha.d", seed_files("f801"))
    install_httpd(f801.private("/etc/init.d"))
    crm_file, conf_file = f801.dir / "seed.crm", f801.dir / "corosync.conf"
    export = f801.run([HAPULSE, "export", "pacemaker", "-c", str(confdir), "--format", "crm",
                       "-o", str(crm_file), "--corosync", str(conf_file)], timeout=30)
    assert export.returncode == 0, export.stderr  # the seed has no gaps
    corosync_conf = conf_file.read_text()
    # f801's own address came from its interfaces, f802's from the ucast line
    assert "ring0_addr: 10.0.0.1" in corosync_conf and "ring0_addr: 10.0.0.2" in corosync_conf
    assert "nic=eth0" not in crm_file.read_text()  # eth0 on f801 but eth1 on f802: by subnet

    keygen = f801.run(["corosync-keygen", "-k", str(f801.dir / "authkey")], timeout=60)
    assert keygen.returncode == 0, keygen.stderr
    authkey = (f801.dir / "authkey").read_bytes()
    for host in (f801, f802):
        pacemaker_host(host, corosync_conf, authkey)
    for host in (f801, f802):
        start_stack(host)
    wait_for(lambda: online(f801) == {"f801", "f802"}, 120, interval=0.5,
             what="both nodes online in crm_mon")

    load = f801.run(["crm", "-F", "configure", "load", "update", str(crm_file)], timeout=120)
    assert load.returncode == 0, load.stderr + load.stdout
    wait_for(lambda: served_by(client) == "f801", 90, interval=0.5,
             what="f801 serves http://192.168.1.118/ under Pacemaker")

    f801.kill_all()
    killed = time.monotonic()
    deadline = killed + DEADTIME + 60
    answer = None
    polls = 0
    while time.monotonic() < deadline and polls < 5000:
        polls += 1
        answer = served_by(client, timeout=0.04)
        if answer == "f802":
            break
    gap = time.monotonic() - killed
    assert answer == "f802", f"no answer from f802 {gap:.1f} s after f801 died"
    print(f"\nPacemaker failover gap (seed, deadtime {DEADTIME:g} s): {gap:.2f} s, "
          f"{polls} polls")
    (seed.workdir.parent / f"{seed.prefix}-gap.txt").write_text(f"{gap:.3f}\n")
    # no earlier than the membership change (token + consensus = deadtime), and not much later
    assert DEADTIME * 0.9 <= gap <= DEADTIME + 30, gap
    assert online(f802) == {"f802"}
