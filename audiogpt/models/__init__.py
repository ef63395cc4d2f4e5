"""Model backends (one folder per task family), the backend protocol, registry and runtime."""
