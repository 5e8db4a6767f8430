"""The embedded runner: pipelines as local processes (`runner`), and whether a process still runs
(`processes`)."""
