"""The experiment layer: configs, the stage cache, parallel execution, the runner. The only code that touches disk."""
from .config import ExperimentConfig, load_config
from .runner import Runner

__all__ = ["ExperimentConfig", "Runner", "load_config"]
