"""A MongoDB stand-in: test equipment that speaks the wire protocol.

It starts from the same command line and YAML configuration file as mongod/mongos,
keeps its state in its dbPath, logs every command it receives, and refuses what a real
server refuses (with the real error codes) for the behaviour this project relies on.
It is not MongoDB and never ships in a role; see tests/standin/README.md.
"""
