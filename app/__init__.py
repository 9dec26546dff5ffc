"""Albert Studio: local text analysis with ALBERT models on ONNX Runtime."""
__version__ = "0.1.0"
