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
"""
