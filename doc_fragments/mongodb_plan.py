"""Documentation of the option shared by the project's declaring modules."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  validate_only:
    description:
      - Check the declaration against the module's rules and stop, without connecting to
        any server or needing pymongo. The first play of C(site.yml) runs every
        declaration this way, so a bad one stops the run before anything changes.
    type: bool
    default: false
  server_not_started:
    description:
      - Check mode only (ignored otherwise). The server is not running because an earlier
        task of the same run would have started it (a preview of a first run on bare
        hosts). Plan against an empty deployment without connecting, and report everything
        that would be sent, with C(changed=true) and a warning saying so.
    type: bool
    default: false
"""
