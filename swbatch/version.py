"""swbatch's version, in a leaf module: every module that records it (outputs, the lock, the
summary) imports it from here, never from the package itself, whose ``__init__`` is the Python
API face and sits above everything."""

__version__ = "0.1.0"
