from importer.cli import program

program()
