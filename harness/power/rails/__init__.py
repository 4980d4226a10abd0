"""Power rails a board measures on itself: parsers over sysfs (under a configurable root) or captured command output.

Every reading says where it came from and how its units were converted (``RailReading.source``), and a
board's total is named, never guessed: Jetson's ``VDD_IN``, or the sum of a Raspberry Pi 5's PMIC rails
stated as such. File formats and their public sources are in docs/boards.md.
"""
