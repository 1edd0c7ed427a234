"""Mail about a release: ``compose`` (what each lifecycle step tells whom), ``queue`` (the mails
in the store, held during an embargo), ``smtp`` (sending them)."""
