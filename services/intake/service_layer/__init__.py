"""Intake's use case (`intake.Intake.submit`) and the ports it owns (`ports`)."""

# The raw-topic consumer still imports these from here while it moves to entrypoints/ (issue 16).
from services.intake.service_layer.intake import Intake, Outcome
from services.intake.service_layer.ports import RegistryUnavailable

__all__ = ["Intake", "Outcome", "RegistryUnavailable"]
