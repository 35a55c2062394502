"""The public Python API: a model from a config and a checkpoint, and its predictions."""
from .inference import TASK_OF_SCOPE, build_model, inference_model, init_model

__all__ = ['TASK_OF_SCOPE', 'build_model', 'init_model', 'inference_model']
