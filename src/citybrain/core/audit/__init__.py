"""The append-only, hash-chained audit log (审计日志)."""
