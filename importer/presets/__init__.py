"""The export layouts shipped with the tool, one TOML file each (read by ``importer.mapping``)."""

#: The presets, in detection tie-break order. Kept here, free of pandas, for the command line.
PRESETS = ("wedocod", "shopify", "woocommerce", "youcan")
