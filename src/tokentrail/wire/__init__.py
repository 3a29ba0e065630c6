"""Wire formats tokentrail writes: OTLP protobuf, encoded by hand (``otlp.py``) for the SDK and the gateway."""
