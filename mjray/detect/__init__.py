"""Stage 2, the detectors: the model, loaded offline, and the detector actors that infer frames, a
pool per camera or shared by every seat in turn."""
