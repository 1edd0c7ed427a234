"""How the distributor reaches a site: the transports and the one-file probe they carry.

``base`` (what every transport offers: run the probe, stream a tarball to it, bounded output;
it knows no implementation), ``local`` (a process on this machine), ``ssh`` (paramiko, imported
only when a site is reached over SSH), ``bundle`` (the one-file probe, a ``.pyz``).
:func:`open_transport` picks a site's transport from a small registry of module names, so that
paramiko is loaded only for an SSH site and the base module never imports an implementation.
"""

from __future__ import annotations

import importlib

from distributor.transport.base import Transport, TransportError
from pps.inventory import Site

#: The inventory's ``transport`` value -> the module and class that implement it.
REGISTRY = {
    "local": ("distributor.transport.local", "LocalTransport"),
    "ssh": ("distributor.transport.ssh", "SshTransport"),
}


def open_transport(site: Site) -> Transport:
    """The transport the inventory names for *site* (entering it connects)."""
    where = REGISTRY.get(site.transport)
    if where is None:
        raise TransportError(f"site {site.name}: unknown transport {site.transport!r}")
    module, name = where
    cls: type[Transport] = getattr(importlib.import_module(module), name)
    return cls(site)
