"""On Ray: tests of mjray/cluster/."""
