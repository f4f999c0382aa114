"""``cktgen-eda plugins`` (filled by the plugin work)."""
