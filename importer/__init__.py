"""wedocod-importer: bulk-import order exports into WedoCOD leads."""
