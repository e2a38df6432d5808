"""Export a Heartbeat configuration to Pacemaker 2.1 + Corosync 3 (`hapulse export`).

Pure mapping into a typed model (:mod:`~hapulse.export.model`,
:mod:`~hapulse.export.pacemaker`, :mod:`~hapulse.export.links`), then renderers:
:func:`render_cib`, :func:`render_crm`, :func:`render_pcs`, :func:`render_corosync`.
"""

from hapulse.export.cib import render_cib
from hapulse.export.corosync import render_corosync
from hapulse.export.crm import render_crm
from hapulse.export.links import build_totem
from hapulse.export.model import Cluster, Machine, Note, Totem
from hapulse.export.pacemaker import build_cluster
from hapulse.export.pcs import render_pcs

RENDERERS = {"cib": render_cib, "crm": render_crm, "pcs": render_pcs}

__all__ = ["RENDERERS", "Cluster", "Machine", "Note", "Totem", "build_cluster", "build_totem",
           "render_cib", "render_corosync", "render_crm", "render_pcs"]
