"""Deployment sign-off: policy gates decided on intervals, waivers, the checklist, and one verdict per run."""

from harness.signoff.policy import Policy, default_policy_path, load_policy
from harness.signoff.verdict import SignoffResult, evaluate, signoff_run

__all__ = ["Policy", "SignoffResult", "default_policy_path", "evaluate", "load_policy", "signoff_run"]
