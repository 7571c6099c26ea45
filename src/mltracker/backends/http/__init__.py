"""The HTTP backend: the store of a tracking server (``http://`` and ``https://`` URIs)."""
