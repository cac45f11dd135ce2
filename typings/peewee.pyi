# peewee read as untyped: its models are dynamic (backrefs, joined columns, .tuples() rows),
# which its own annotations cannot describe. mypy.ini points mypy_path here.
from typing import Any

def __getattr__(name: str) -> Any: ...
