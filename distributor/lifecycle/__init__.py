"""A release's life after the push: ``model`` (states, events, bugs, history), ``rollout`` (the
steps: verify, accept, report, close, withdraw), ``sites`` (where it is live, whom to tell to
retire it), ``clocks`` and ``workdays`` (the staged rollout's deadlines in working days),
``pilots`` (pilot services), ``notes`` (release notes), ``metrics`` (delivery figures)."""
