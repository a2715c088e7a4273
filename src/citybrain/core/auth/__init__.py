"""Organisations, users, roles, tokens, API keys, browser sessions, grants and the principal.

This package has the shape every domain copies (STYLE.md): ``models``, ``schemas``, ``service``,
``api``, ``pages``, ``cli`` and ``errors``, plus algorithm modules with no database
(``passwords``, ``tokens``, ``principal``).
"""
