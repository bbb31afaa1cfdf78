"""The public label registry: `iotcop serve`.

Manufacturers publish signed labels with their reports (or upload firmware for a
server-side scan); anyone can search products, read a product page, check a
label, and follow a feed of new and expiring labels.
"""
