"""The web shell: problem+json errors, principal dependencies, CSRF, language, templates, navigation."""
