"""The outputs: tests of mjray/output/."""
