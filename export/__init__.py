"""pneumo.export: turn a training checkpoint into a validated ONNX model with its contract."""
