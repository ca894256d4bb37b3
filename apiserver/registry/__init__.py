"""Per-kind strategies and the generic request logic (Registry) that uses them."""
