"""Entry point: python -m standin {mongod|mongos|<path>/mongod|<path>/mongos} [options].

The wrapper scripts in bin/ pass the path they were run as, so the process can show
the command line a real mongod shows (see cli.show_command_line).
"""

import os
import sys

from .cli import main, show_command_line

if __name__ == "__main__":
    invoked = sys.argv[1] if len(sys.argv) > 1 else ""
    role = os.path.basename(invoked)
    if role not in ("mongod", "mongos"):
        print("usage: python -m standin {mongod|mongos} [options]", file=sys.stderr)
        sys.exit(2)
    if invoked != role:
        show_command_line([invoked, *sys.argv[2:]])
    sys.exit(main(role, sys.argv[2:]))
