"""Platform-agnostic core: events, the dialogue turn, engines, tools, jobs, media, artifacts."""
