"""Deployment: ONNX export of classifiers, segmentors and backbones (with the data
preprocessor's normalisation in the graph), its check against PyTorch, and evaluation of an
exported model with ONNX Runtime on a config's test set. Needs the ``deploy`` extra
(``requirements/deploy.txt``: onnx, onnxruntime, onnxscript) at call time, not at import."""
from .onnx_evaluation import build_test_evaluator, evaluate_onnx, images_for_graph
from .onnx_export import (DEFAULT_TOLERANCE, DEFAULT_VERIFY_SHAPES, EXPORT_OUTPUTS,
                          BackboneForExport, ClassifierForExport, ExportableAdaptiveAvgPool2d,
                          ExportRefusedError, RawImageModel, SegmentorForExport, VerifiedShape,
                          create_session, exportable_copy, export_metadata, export_onnx,
                          input_channel_order, task_of_model, verify_onnx,
                          wrap_for_export)

__all__ = [
    'DEFAULT_TOLERANCE', 'DEFAULT_VERIFY_SHAPES', 'EXPORT_OUTPUTS', 'BackboneForExport',
    'ClassifierForExport', 'ExportableAdaptiveAvgPool2d', 'ExportRefusedError', 'RawImageModel',
    'SegmentorForExport', 'VerifiedShape', 'build_test_evaluator', 'create_session',
    'evaluate_onnx', 'exportable_copy', 'export_metadata', 'export_onnx', 'images_for_graph',
    'input_channel_order', 'task_of_model', 'verify_onnx',
    'wrap_for_export'
]
