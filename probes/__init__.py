"""pps probes: everything that runs at a partner site.

``check_preview_client`` (a Nagios plugin) is the only code that changes a site: it reads the
repository index, fetches and verifies a preview tarball, installs it beside production, runs its
local tests and publishes or withdraws the version's RunTimeEnvironment tag.  ``gip_provider``
prints what the site publishes as GLUE LDIF for ``bdii-update``.  The distributor never imports
this package; it runs these modules as programs.  Private modules (``_*.py``) hold one idea each.
"""
