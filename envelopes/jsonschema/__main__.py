"""``python -m envelopes.jsonschema [--gaps]``: print the registry payload (or the gaps)."""

from __future__ import annotations

import argparse
import json

from ..registry import default_registry
from . import GAPS, registry_payload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m envelopes.jsonschema",
        description="Print the schemas registry payload Sockethub's SDK receives.",
    )
    parser.add_argument(
        "--gaps", action="store_true", help="list the rules JSON Schema cannot state"
    )
    parser.add_argument("--compact", action="store_true", help="one line, as sent")
    args = parser.parse_args(argv)
    if args.gaps:
        print("\n".join(GAPS))
        return
    payload = registry_payload(default_registry())
    if args.compact:
        print(json.dumps(payload, separators=(",", ":"), ensure_ascii=False))
    else:
        print(json.dumps(payload, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
