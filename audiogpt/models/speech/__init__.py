"""Speech backends: recognition (voice in) and synthesis (voice out).

Nothing is imported here on purpose: the registry imports the backend modules
it needs, and each defers its heavy imports to ``load()``.
"""
