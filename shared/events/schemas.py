"""JSON Schema files generated from the models into docs/schemas/ (a test fails on drift).

Run `python -m shared.events.schemas` after changing a model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared.events.models import AGENCY_EVENT_TYPES, STATUS_EVENT_TYPES

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def generated() -> dict[str, str]:
    """File name → schema text, one file per event type."""
    files = {}
    for event_type, model in {**AGENCY_EVENT_TYPES, **STATUS_EVENT_TYPES}.items():
        schema = model.model_json_schema(mode="validation")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://tiendo.example/schemas/{event_type}.json",
            **schema,
        }
        files[f"{event_type}.json"] = json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
    return files


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(path)
