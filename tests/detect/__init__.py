"""The detector stage: tests of mjray/detect/."""
