"""A :class:`~hapulse.export.model.Totem` as corosync.conf (Corosync 3, knet).

Gaps and notes are `#` comments at the top. Crypto is on (aes256/sha256):
every node needs the same /etc/corosync/authkey (`corosync-keygen`).
"""

from __future__ import annotations

from hapulse.export.model import Totem, header

KEYFILE = "/etc/corosync/authkey"


def render_corosync(totem: Totem) -> str:
    out = header(totem.notes)
    out += ["totem {", "\tversion: 2", f"\tcluster_name: {totem.cluster_name}",
            "\ttransport: knet", f"\ttoken: {totem.token_ms}",
            "\tcrypto_cipher: aes256", "\tcrypto_hash: sha256", f"\tkeyfile: {KEYFILE}"]
    for link in totem.links:
        out += ["\tinterface {", f"\t\tlinknumber: {link.number}", "\t}"]
    out += ["}", "", "nodelist {"]
    for i, node in enumerate(totem.nodes, start=1):
        out += ["\tnode {", f"\t\tname: {node}", f"\t\tnodeid: {i}"]
        for link in totem.links:
            addr = dict(link.addresses)[node]
            if link.interface:  # corosync.conf comments take whole lines
                out.append(f"\t\t# link {link.number}: Heartbeat's {link.interface}")
            out.append(f"\t\tring{link.number}_addr: {addr}")
        out.append("\t}")
    out += ["}", "", "quorum {", "\tprovider: corosync_votequorum"]
    if len(totem.nodes) == 2:
        out.append("\ttwo_node: 1")
    out += ["}", "", "logging {", "\tto_syslog: yes", "\tto_logfile: yes",
            "\tlogfile: /var/log/corosync/corosync.log", "\ttimestamp: on", "}"]
    return "\n".join(out) + "\n"
