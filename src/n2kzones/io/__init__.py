"""Reading inputs and writing outputs (the outer layer: io -> domain -> analysis -> outputs)."""

from n2kzones.io.natura2000_json import read_natura2000_json
from n2kzones.io.readers import read_file, read_inputs, read_layer
from n2kzones.io.writers import (
    atomic_path,
    read_table,
    write_csv,
    write_geopackage,
    write_json,
    write_parquet,
)

__all__ = [
    "atomic_path",
    "read_file",
    "read_inputs",
    "read_layer",
    "read_natura2000_json",
    "read_table",
    "write_csv",
    "write_geopackage",
    "write_json",
    "write_parquet",
]
