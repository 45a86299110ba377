"""okeios: client-side provenance for personal health records."""

__version__ = "0.1.0"
