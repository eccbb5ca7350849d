"""Documentation of the connection options shared by the project's MongoDB modules."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description: Host name or address of the mongod or mongos to connect to.
    type: str
    default: 127.0.0.1
  login_port:
    description: Port of the mongod or mongos to connect to.
    type: int
    default: 27017
  login_user:
    description: User to authenticate as. Leave empty to connect without authenticating.
    type: str
  login_password:
    description: Password of O(login_user). Never logged.
    type: str
  login_database:
    description: Database holding O(login_user).
    type: str
    default: admin
  direct_connection:
    description: Talk to this one process only, without discovering the replica set.
    type: bool
    default: true
  tls:
    description: Connect with TLS.
    type: bool
    default: false
  tls_ca_file:
    description: CA certificate file for TLS; the server's certificate must chain to it.
    type: path
  tls_certificate_key_file:
    description:
      - The client's key and certificate in one PEM file, presented to a server that asks
        for one (a server with C(net.tls.CAFile) does unless it allows connections without
        certificates).
    type: path
  tls_certificate_key_file_password:
    description: Password of O(tls_certificate_key_file)'s key. Never logged.
    type: str
  connect_timeout:
    description: Seconds to wait for the server before giving up.
    type: int
    default: 10
requirements:
  - pymongo >= 4.0
"""
