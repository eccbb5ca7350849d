"""Unit tests import the project's filter plugins and module_utils directly."""

import sys
from pathlib import Path

import ansible.module_utils

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "filter_plugins"))
sys.path.insert(0, str(PROJECT / "module_utils"))
# Modules import shared code as ansible.module_utils.<name>, as Ansible ships it to hosts.
ansible.module_utils.__path__.append(str(PROJECT / "module_utils"))
