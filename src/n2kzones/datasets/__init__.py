"""Data-set generators: the embedded sample region, the synthetic EU-scale set, real public data."""
