"""The camera stage: tests of mjray/camera/."""
