"""The kernel every domain stands on: settings, database, auth, audit, events, i18n, errors, web shell.

``core`` imports no domain (checked by import-linter in ``make test``).
"""
