"""Scenarios: replay any success or failure of the API on purpose, from YAML files.

Pure core (no Flask): the file format (`schema`), safe loading with positions (`yamlsafe`,
`loader`), the folder with hot reload (`library`), magic test values (`magic`) and the engine
that plugs into the pipeline's hook points (`engine`).
"""
