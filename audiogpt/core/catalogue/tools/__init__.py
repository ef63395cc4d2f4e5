"""One module per built-in tool, each defining ``SPEC``; discovered by the catalogue."""
