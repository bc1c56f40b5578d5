"""The experiment layer: from a configuration to a run folder (configs, building the pipeline, the stages and
their cache, parallel execution, the runner); see docs/architecture.md."""
from .config import ExperimentConfig, load_config
from .runner import Runner

__all__ = ["ExperimentConfig", "Runner", "load_config"]
