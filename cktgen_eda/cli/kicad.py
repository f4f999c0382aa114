"""``cktgen-eda to-kicad`` and ``from-kicad`` (filled by the KiCad work)."""
