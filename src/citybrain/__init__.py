"""citybrain: an open-source city operating platform (城市大脑)."""

__version__ = "0.1.0"
