"""Pipeline stages: one module per CLI stage, the only code that reads the config and writes outputs.

Each stage runs inside :func:`~n2kzones.stages.framework.stage_run` (lock, upstream checks,
staging folder, manifest, commit); :mod:`~n2kzones.stages.catalogue` names every output.
"""
