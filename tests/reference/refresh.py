"""Copy the reference figures the tests read from a reference set into tests/reference/.

    python tests/reference/refresh.py ../shared/reference

SOURCE holds torchvision.json, timm.json and torchvision_ops.json in the project's shared
format (see README.md beside this file). Each model keeps only the fields the tests read
(kwargs, params, buffers, state_dict, input, output), written one state_dict key per line so
a refresh reads as a small diff. torchvision_ops.json is copied as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODEL_FIELDS = ("kwargs", "params", "buffers", "state_dict", "input", "output")


def _dumps(model: dict[str, Any]) -> str:
    """One model's entry, each state_dict key and shape on its own line."""
    rows = []
    for field in MODEL_FIELDS:
        if field not in model:
            continue
        if field == "state_dict":
            keys = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in model[field].items())
            rows.append(f'   "state_dict": {{\n{keys}\n   }}')
        else:
            rows.append(f"   {json.dumps(field)}: {json.dumps(model[field])}")
    return "{\n" + ",\n".join(rows) + "\n  }"


def trimmed(data: dict[str, Any]) -> str:
    """A models file (torchvision.json, timm.json) with only what the tests read."""
    header = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items() if k != "models"]
    models = ",\n".join(f"  {json.dumps(name)}: {_dumps(m)}" for name, m in data["models"].items())
    text = "{\n" + "".join(h + ",\n" for h in header) + ' "models": {\n' + models + "\n }\n}\n"
    kept = {name: {f: m[f] for f in MODEL_FIELDS if f in m} for name, m in data["models"].items()}
    assert json.loads(text)["models"] == kept  # the layout changes nothing
    return text


def main(source: Path) -> None:
    for name in ("torchvision.json", "timm.json"):
        (HERE / name).write_text(trimmed(json.loads((source / name).read_text())))
    ops = json.loads((source / "torchvision_ops.json").read_text())
    (HERE / "torchvision_ops.json").write_text(json.dumps(ops, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
