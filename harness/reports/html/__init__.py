"""The self-contained HTML report of a run (template shipped as package data under templates/)."""
