"""Privacy: PII redaction and the content capture policy (rules, redact, walk, policy), content encryption,
search, purge and retention."""
