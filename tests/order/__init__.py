"""Order: tests of mjray/order/."""
