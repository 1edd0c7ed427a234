"""The operator's repository: building a release's tarball (``tarball``), adding releases to the
index and moving them between stages (``releases``), signing the index (``signing``), and
checking a tarball against its index entry (``check``)."""
