"""Entry point: python -m standin {mongod|mongos} [options]."""

import sys

from .cli import main

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("mongod", "mongos"):
        print("usage: python -m standin {mongod|mongos} [options]", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
