"""The mahjong plug-in: tests of mjray/mahjong/."""
