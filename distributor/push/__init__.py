"""A push: the release carried to its target sites and the probe run there.

``targets`` (which sites, and the probe's arguments), ``scheduler`` (the pure decisions: the
canary's verdict, the max-fail bound, when to stop launching), ``controller`` (the threads, the
transports, the store: one site after another under the scheduler's decisions), ``policy``
(what the CLI asks before a push: the sites already OK, the sites to tell to retire)."""
