"""The test bed: tests of mjray/sim/."""
